package e2e

// End-to-end tests of issue 2's "Must show": the built `sonolink serve`
// receives from DCMTK (echoscu, storescu, dcmsend) on loopback, and what it
// stored is compared, element by element, with what was sent.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"log/slog"
	"math"
	"math/big"
	mrand "math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/suyashkumar/dicom"
	"github.com/suyashkumar/dicom/pkg/tag"

	"sonolink/dicom/dicomfile"
	"sonolink/internal/testenv"
	"sonolink/store"
)

// The samples include a Computed Radiography object (charset/), the retired
// US classes, JPEG 2000 and JPEG-LS: configuration widens the defaults so
// every sample can be received as sent ("more by configuration").
var ingestServeArgs = []string{
	"--extra-sop-class", "1.2.840.10008.5.1.4.1.1.1,1.2.840.10008.5.1.4.1.1.6,1.2.840.10008.5.1.4.1.1.3",
	"--extra-transfer-syntax", "1.2.840.10008.1.2.4.90,1.2.840.10008.1.2.4.91,1.2.840.10008.1.2.4.80",
}

const ingestBigEndian = "1.2.840.10008.1.2.2"

// ingestNode is one running `sonolink serve`.
type ingestNode struct {
	t          *testing.T
	dataDir    string
	host, port string
	cmd        *exec.Cmd
	log        *shareE2ELog
	exited     chan struct{}
}

func (n *ingestNode) addr() string { return n.host + ":" + n.port }

// ingestStart runs serve on dataDir with free loopback ports and waits for
// it to listen. Logs go to log, which is checked for patient data when the
// test ends.
func ingestStart(t *testing.T, dataDir string, log *shareE2ELog) *ingestNode {
	t.Helper()
	before := strings.Count(log.String(), "\n")
	args := append([]string{"--data-dir", dataDir, "serve", "--dicom-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0",
		"--log-format", "json", "--stable-time", "1h"}, ingestServeArgs...)
	cmd := exec.Command(sonolinkBin, args...)
	cmd.Env = cleanEnv()
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	n := &ingestNode{t: t, dataDir: dataDir, cmd: cmd, log: log, exited: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(n.exited) }()
	t.Cleanup(func() {
		select {
		case <-n.exited:
		default:
			_ = cmd.Process.Kill()
			<-n.exited
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		lines := strings.Split(log.String(), "\n")
		for _, l := range lines[min(before, len(lines)):] {
			var rec struct {
				Msg       string `json:"msg"`
				DicomAddr string `json:"dicom_addr"`
			}
			if json.Unmarshal([]byte(l), &rec) == nil && rec.Msg == "sonolink serving" {
				i := strings.LastIndex(rec.DicomAddr, ":")
				n.host, n.port = rec.DicomAddr[:i], rec.DicomAddr[i+1:]
				return n
			}
		}
		select {
		case <-n.exited:
			t.Fatalf("sonolink serve exited at start:\n%s", log.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("sonolink serve not listening after 20 s:\n%s", log.String())
		}
	}
}

// stop shuts serve down as an operator would (SIGTERM).
func (n *ingestNode) stop() {
	n.t.Helper()
	_ = n.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-n.exited:
	case <-time.After(30 * time.Second):
		_ = n.cmd.Process.Kill()
		<-n.exited
		n.t.Errorf("serve did not stop within 30 s of SIGTERM")
	}
}

// kill9 kills serve with SIGKILL.
func (n *ingestNode) kill9() {
	_ = n.cmd.Process.Kill()
	<-n.exited
}

// ingestTool runs a DCMTK tool with TCP_NODELAY=1 and returns its output.
func ingestTool(t *testing.T, tool string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, testenv.Tool(t, tool), args...)
	cmd.Env = append(os.Environ(), "TCP_NODELAY=1")
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// ingestReadable is every sample a modality may send, except fodicom
// GH364, which DCMTK (the sender here) cannot read: wrong meta group length
// and a stray item.
func ingestReadable(t *testing.T) []string {
	var out []string
	for _, f := range testenv.SampleFiles(t, "us", "sr", "pdf", "sc", "charset") {
		if !strings.Contains(f, "fodicom__GH364") {
			out = append(out, f)
		}
	}
	return out
}

type ingestMeta struct{ sop, class, ts string }

func ingestHeader(t *testing.T, path string) ingestMeta {
	t.Helper()
	ds, err := dicomfile.ReadHeader(path)
	if err != nil {
		t.Fatalf("%s: %v", filepath.Base(path), err)
	}
	return ingestMeta{dicomfile.String(ds, tag.SOPInstanceUID), dicomfile.String(ds, tag.SOPClassUID), dicomfile.String(ds, tag.TransferSyntaxUID)}
}

var ingestSuccessRE = regexp.MustCompile(`with status SUCCESS\s*:\s*(\d+)`)

// ingestDcmsend sends files with dcmsend and fails unless its report counts
// every file as stored with success (dcmsend exits 0 even on refusals).
// -dn keeps compressed objects compressed, so they are stored as sent.
func ingestDcmsend(t *testing.T, n *ingestNode, aet string, files []string) {
	t.Helper()
	report := filepath.Join(t.TempDir(), "report.txt")
	args := append([]string{"-aet", aet, "-aec", "SONOLINK", "-dn", "+crf", report, n.host, n.port}, files...)
	out, err := ingestTool(t, "dcmsend", args...)
	rep, _ := os.ReadFile(report)
	if err != nil {
		t.Fatalf("dcmsend: %v\n%s\n%s", err, out, rep)
	}
	if m := ingestSuccessRE.FindSubmatch(rep); m == nil || string(m[1]) != strconv.Itoa(len(files)) {
		t.Fatalf("dcmsend: want %d successes in the report:\n%s", len(files), rep)
	}
}

// ingestStorescuOption proposes a compressed transfer syntax (storescu
// proposes only uncompressed ones by default, one -x option per run).
var ingestStorescuOption = map[string]string{
	"1.2.840.10008.1.2.4.50": "-xy", "1.2.840.10008.1.2.4.70": "-xs", "1.2.840.10008.1.2.5": "-xr",
	"1.2.840.10008.1.2.4.90": "-xv", "1.2.840.10008.1.2.4.91": "-xw", "1.2.840.10008.1.2.4.80": "-xt",
}

// ingestStorescu sends files with storescu, one run per compressed transfer
// syntax, and fails unless every file got a Success response.
func ingestStorescu(t *testing.T, n *ingestNode, files []string) {
	t.Helper()
	groups := map[string][]string{}
	for _, f := range files {
		opt := ingestStorescuOption[ingestHeader(t, f).ts]
		groups[opt] = append(groups[opt], f)
	}
	for opt, group := range groups {
		args := []string{"-aet", "MODALITY", "-aec", "SONOLINK", "-nh", "-R", "-v"}
		if opt != "" {
			args = append(args, opt)
		}
		out, err := ingestTool(t, "storescu", append(append(args, n.host, n.port), group...)...)
		if err != nil {
			t.Errorf("storescu %s: %v\n%s", opt, err, out)
		}
		if got := strings.Count(out, "Received Store Response (Success)"); got != len(group) {
			t.Errorf("storescu %s: %d success responses for %d files\n%s", opt, got, len(group), out)
		}
	}
}

func ingestOpenStore(t *testing.T, dataDir string) *store.Store {
	t.Helper()
	st, err := store.Open(dataDir, store.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatalf("opening the store after serve: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// ingestAllInstances lists every indexed version (primary and conflict).
func ingestAllInstances(t *testing.T, st *store.Store) []store.Instance {
	t.Helper()
	studies, err := st.Studies(store.Query{})
	if err != nil {
		t.Fatal(err)
	}
	var out []store.Instance
	for _, s := range studies {
		insts, err := st.Instances(s.StudyUID)
		if err != nil {
			t.Fatal(err)
		}
		for _, in := range insts {
			out = append(out, in)
			cv, err := st.ConflictVersions(in.SOPInstanceUID)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, cv...)
		}
	}
	return out
}

// ingestCheckFiles asserts no indexed entry lacks its file.
func ingestCheckFiles(t *testing.T, st *store.Store, all []store.Instance) {
	t.Helper()
	for _, in := range all {
		if in.Missing {
			t.Errorf("indexed entry %s is marked missing", in.Key)
		}
		if fi, err := os.Stat(st.ObjectPath(&in)); err != nil || fi.Size() != in.Size {
			t.Errorf("indexed entry %s: file %v (size in index %d)", in.Key, err, in.Size)
		}
	}
}

// ingestVerify asserts every file is indexed and stored with the same data
// elements and pixel data, and that files sharing a SOP Instance UID were
// kept as conflict versions of one instance.
func ingestVerify(t *testing.T, st *store.Store, files []string) {
	t.Helper()
	bySOP := map[string][]string{}
	for _, f := range files {
		sop := ingestHeader(t, f).sop
		bySOP[sop] = append(bySOP[sop], f)
	}
	for sop, group := range bySOP {
		prim, err := st.Instance(sop)
		if err != nil {
			t.Errorf("%s: not in the index: %v", filepath.Base(group[0]), err)
			continue
		}
		conflicts, err := st.ConflictVersions(sop)
		if err != nil {
			t.Fatal(err)
		}
		versions := append([]store.Instance{*prim}, conflicts...)
		if len(versions) != len(group) {
			t.Errorf("%d samples share SOP Instance UID of %s; index has %d versions", len(group), filepath.Base(group[0]), len(versions))
		}
		for _, c := range conflicts {
			if !c.Conflict {
				t.Errorf("%s: second version not marked as a conflict version", filepath.Base(group[0]))
			}
		}
		used := map[int]bool{}
		for _, f := range group {
			var why []string
			found := false
			for i := range versions {
				if used[i] {
					continue
				}
				diffs, err := ingestCompare(f, st.ObjectPath(&versions[i]))
				if err != nil {
					t.Fatalf("%s: %v", filepath.Base(f), err)
				}
				if len(diffs) == 0 {
					used[i], found = true, true
					break
				}
				why = append(why, fmt.Sprintf("version %d (%s): %s", i, versions[i].TransferSyntax, strings.Join(diffs[:min(len(diffs), 8)], "; ")))
			}
			if !found {
				t.Errorf("%s: no stored version holds the same elements:\n  %s", filepath.Base(f), strings.Join(why, "\n  "))
			}
		}
	}
}

// ingestCompare parses both files and lists the elements whose decoded
// values differ, at every depth (file meta group, group lengths and
// trailing padding excluded). Pixel data and
// other word-typed binary values are compared after byte-order
// normalisation, because a sender may convert Big Endian to Little Endian.
func ingestCompare(sent, stored string) ([]string, error) {
	a, err := dicomfile.ReadFile(sent)
	if err != nil {
		return nil, fmt.Errorf("parsing the sample: %w", err)
	}
	b, err := dicomfile.ReadFile(stored)
	if err != nil {
		return nil, fmt.Errorf("parsing the stored file: %w", err)
	}
	c := &ingestCmp{
		beA: dicomfile.String(a, tag.TransferSyntaxUID) == ingestBigEndian,
		beB: dicomfile.String(b, tag.TransferSyntaxUID) == ingestBigEndian,
	}
	c.elements("", a.Elements, b.Elements, true)
	return c.diffs, nil
}

type ingestCmp struct {
	beA, beB bool
	diffs    []string
}

func (c *ingestCmp) elements(path string, ea, eb []*dicom.Element, top bool) {
	index := func(es []*dicom.Element) (map[tag.Tag]*dicom.Element, []tag.Tag) {
		m := map[tag.Tag]*dicom.Element{}
		var order []tag.Tag
		for _, e := range es {
			// Not data: the file meta group; group lengths (retired,
			// recomputed by DCMTK when it re-encodes a data set); Data Set
			// Trailing Padding, which PS3.10 lets any application drop.
			if top && e.Tag.Group == 0x0002 || e.Tag.Element == 0x0000 || e.Tag == (tag.Tag{Group: 0xFFFC, Element: 0xFFFC}) {
				continue
			}
			if _, dup := m[e.Tag]; !dup {
				order = append(order, e.Tag)
			}
			m[e.Tag] = e
		}
		return m, order
	}
	ma, oa := index(ea)
	mb, ob := index(eb)
	for _, tg := range oa {
		name := fmt.Sprintf("%s(%04X,%04X)", path, tg.Group, tg.Element)
		y, ok := mb[tg]
		if !ok {
			c.diffs = append(c.diffs, name+" missing from the stored file")
			continue
		}
		c.value(name, ma[tg], y)
	}
	for _, tg := range ob {
		if _, ok := ma[tg]; !ok {
			c.diffs = append(c.diffs, fmt.Sprintf("%s(%04X,%04X) only in the stored file", path, tg.Group, tg.Element))
		}
	}
}

func (c *ingestCmp) value(name string, x, y *dicom.Element) {
	if x.Value == nil || y.Value == nil {
		if (x.Value == nil) != (y.Value == nil) {
			c.diffs = append(c.diffs, name+": value present on one side only")
		}
		return
	}
	va, vb := x.Value.GetValue(), y.Value.GetValue()
	switch av := va.(type) {
	case []*dicom.SequenceItemValue:
		bv, ok := vb.([]*dicom.SequenceItemValue)
		if !ok || len(av) != len(bv) {
			c.diffs = append(c.diffs, fmt.Sprintf("%s: sequence of %d items, stored %v", name, len(av), ingestShort(vb)))
			return
		}
		for i := range av {
			ia, _ := av[i].GetValue().([]*dicom.Element)
			ib, _ := bv[i].GetValue().([]*dicom.Element)
			c.elements(fmt.Sprintf("%s[%d]", name, i), ia, ib, false)
		}
	case dicom.PixelDataInfo:
		bv, ok := vb.(dicom.PixelDataInfo)
		if !ok || av.IsEncapsulated != bv.IsEncapsulated {
			c.diffs = append(c.diffs, name+": pixel data encoding changed")
			return
		}
		if av.IsEncapsulated {
			if len(av.Frames) != len(bv.Frames) {
				c.diffs = append(c.diffs, fmt.Sprintf("%s: %d fragments, stored %d", name, len(av.Frames), len(bv.Frames)))
				return
			}
			for i := range av.Frames {
				if !bytes.Equal(av.Frames[i].EncapsulatedData.Data, bv.Frames[i].EncapsulatedData.Data) {
					c.diffs = append(c.diffs, fmt.Sprintf("%s: fragment %d differs", name, i))
				}
			}
			return
		}
		pa := c.norm(av.UnprocessedValueData, x.RawValueRepresentation, c.beA)
		pb := c.norm(bv.UnprocessedValueData, y.RawValueRepresentation, c.beB)
		// An odd-length value is padded to even length by a sender that
		// re-encodes it.
		if len(pa)%2 == 1 && len(pb) == len(pa)+1 {
			pb = pb[:len(pa)]
		}
		if !bytes.Equal(pa, pb) {
			c.diffs = append(c.diffs, fmt.Sprintf("%s: native pixel data differs (%d vs %d bytes)", name, len(pa), len(pb)))
		}
	default:
		ba, okA := c.canon(va, x.RawValueRepresentation, c.beA)
		bb, okB := c.canon(vb, y.RawValueRepresentation, c.beB)
		if !okA || !okB || !bytes.Equal(ba, bb) {
			c.diffs = append(c.diffs, fmt.Sprintf("%s: sent %s, stored %s", name, ingestShort(va), ingestShort(vb)))
		}
	}
}

// canon turns a decoded value into comparable bytes: strings with their
// padding trimmed, numbers and word-typed binary values little endian. A
// value decoded as bytes on one side (implicit VR: unknown private tags)
// and typed on the other compares equal when it encodes the same.
func (c *ingestCmp) canon(v any, vr string, bigEndian bool) ([]byte, bool) {
	le := binary.LittleEndian
	switch v := v.(type) {
	case []string:
		out := make([]string, len(v))
		for i, s := range v {
			out[i] = strings.TrimRight(s, " \x00")
		}
		return []byte(strings.Join(out, `\`)), true
	case []byte:
		b := c.norm(v, vr, bigEndian)
		if ingestIsTextVR(vr) || vr == "UN" {
			return bytes.TrimRight(b, " \x00"), true
		}
		return b, true
	case []int:
		var out []byte
		for _, n := range v {
			switch vr {
			case "US", "SS", "OW":
				out = le.AppendUint16(out, uint16(n))
			default:
				out = le.AppendUint32(out, uint32(n))
			}
		}
		return out, true
	case []float64:
		var out []byte
		for _, f := range v {
			if vr == "FL" || vr == "OF" {
				out = le.AppendUint32(out, math.Float32bits(float32(f)))
			} else {
				out = le.AppendUint64(out, math.Float64bits(f))
			}
		}
		return out, true
	}
	return nil, false
}

// norm swaps word-typed binary values of a big endian file into little
// endian byte order.
func (c *ingestCmp) norm(b []byte, vr string, bigEndian bool) []byte {
	if !bigEndian {
		return b
	}
	size := map[string]int{"OW": 2, "OF": 4, "OL": 4, "OD": 8, "OV": 8}[vr]
	if size == 0 {
		return b
	}
	out := slices.Clone(b)
	for i := 0; i+size <= len(out); i += size {
		slices.Reverse(out[i : i+size])
	}
	return out
}

func ingestIsTextVR(vr string) bool {
	switch vr {
	case "AE", "AS", "CS", "DA", "DS", "DT", "IS", "LO", "LT", "PN", "SH", "ST", "TM", "UC", "UI", "UR", "UT":
		return true
	}
	return false
}

func ingestShort(v any) string {
	s := fmt.Sprint(v)
	if len(s) > 60 {
		s = s[:60] + "…"
	}
	return s
}

// ingestPHI is what must never appear in logs: the samples' patient names
// and IDs (long enough not to match ordinary words) and known values.
func ingestPHI(t *testing.T) []string {
	phi := map[string]bool{"ZZZ TEST": true, "Pediatric": true, "Rubo DEMO": true, "123-45-6789": true, "WEDNESDAY": true}
	for _, f := range testenv.SampleFiles(t, "us", "sr", "pdf", "sc", "charset") {
		ds, err := dicomfile.ReadHeader(f)
		if err != nil {
			continue
		}
		for _, tg := range []tag.Tag{tag.PatientName, tag.PatientID, tag.PatientBirthDate} {
			for _, v := range dicomfile.Strings(ds, tg) {
				for _, part := range strings.Split(v, "^") {
					if part = strings.TrimSpace(part); len(part) >= 6 && !strings.HasPrefix(part, "Anonymized") {
						phi[part] = true
					}
				}
			}
		}
	}
	return slices.Sorted(func(yield func(string) bool) {
		for k := range phi {
			if !yield(k) {
				return
			}
		}
	})
}

// ingestNoPHI asserts the logs hold none of the samples' patient data.
func ingestNoPHI(t *testing.T, log *shareE2ELog) {
	t.Helper()
	logs := log.String()
	if !strings.Contains(logs, `"msg":"sonolink serving"`) {
		t.Fatalf("no serve logs captured:\n%s", logs)
	}
	for _, v := range ingestPHI(t) {
		if strings.Contains(logs, v) {
			for _, l := range strings.Split(logs, "\n") {
				if strings.Contains(l, v) {
					t.Errorf("log line holds patient data %q:\n%s", v, l)
					break
				}
			}
		}
	}
}

func ingestRandomUID() string {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	return "2.25." + n.String()
}

// ingestCorpus copies files into dir with fresh Study (one per copy),
// Series and SOP Instance UIDs (dcmodify), copies times.
func ingestCorpus(t *testing.T, dir string, files []string, copies int) []string {
	t.Helper()
	var out []string
	for c := 0; c < copies; c++ {
		d := filepath.Join(dir, fmt.Sprintf("copy%d", c))
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		var batch []string
		for i, f := range files {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			dst := filepath.Join(d, fmt.Sprintf("%03d.dcm", i))
			if err := os.WriteFile(dst, data, 0o644); err != nil {
				t.Fatal(err)
			}
			batch = append(batch, dst)
		}
		args := append([]string{"-nb", "-q", "-m", "(0020,000D)=" + ingestRandomUID(), "-gse", "-gin"}, batch...)
		if out, err := ingestTool(t, "dcmodify", args...); err != nil {
			t.Fatalf("dcmodify: %v\n%s", err, out)
		}
		out = append(out, batch...)
	}
	return out
}

// ingestMidSized drops the 13 MB cine, to keep the corpora of the longer
// tests small (the all-samples tests send it).
func ingestMidSized(files []string) []string {
	var out []string
	for _, f := range files {
		if !strings.Contains(f, "GREYSCALE_CINE") {
			out = append(out, f)
		}
	}
	return out
}

// Must show 1 and 3: echo both ways, wrong called AE title rejected with its
// reason, an unknown SOP class not stored while the rest is, node keeps
// serving.
func TestE2EIngestEchoAndRejections(t *testing.T) {
	testenv.Long(t, "end-to-end scenario")
	t.Parallel()
	log := &shareE2ELog{}
	n := ingestStart(t, shortTempDir(t), log)

	if out, err := ingestTool(t, "echoscu", "-aet", "MODALITY", "-aec", "SONOLINK", n.host, n.port); err != nil {
		t.Fatalf("echoscu: %v\n%s", err, out)
	}
	mustCLI(t, 0, t.TempDir(), "echo", n.addr())
	if r := runCLI(t, t.TempDir(), "echo", "--called-aet", "NOTUS", n.addr()); r.code == 0 {
		t.Errorf("sonolink echo to a wrong called AE title succeeded: %s", r)
	}

	// Wrong called AE title: A-ASSOCIATE-RJ, reason 7, for echo and store.
	sample := filepath.Join(testenv.Samples(t), "us/pydicom-data__OBXXXX1A.dcm")
	for _, tc := range [][]string{
		{"echoscu", "-aec", "NOTUS", n.host, n.port},
		{"storescu", "-aec", "NOTUS", n.host, n.port, sample},
	} {
		out, err := ingestTool(t, tc[0], tc[1:]...)
		if err == nil {
			t.Errorf("%s with a wrong called AE title succeeded:\n%s", tc[0], out)
		}
		if !strings.Contains(strings.ToLower(out), "called ae title not recognized") {
			t.Errorf("%s does not show the rejection reason:\n%s", tc[0], out)
		}
	}

	// Unknown SOP class: not stored, the known object on the same
	// association is. (storescu does not propose a class it does not know,
	// and every standard storage class is accepted by default; refusal per
	// context is dimse's TestUnknownSOPClassRefusedPerContext.)
	unknown := filepath.Join(testenv.Samples(t), "odd/orthanc__UnknownSopClassUid.dcm")
	known := filepath.Join(testenv.Samples(t), "sc/orthanc__ColorTestMalaterre.dcm")
	out, _ := ingestTool(t, "storescu", "-aet", "MODALITY", "-aec", "SONOLINK", "-nh", "+v", "-v", n.host, n.port, unknown, known)
	if got := strings.Count(out, "Received Store Response (Success)"); got != 1 {
		t.Errorf("want the known object stored on the same association (1 success), got %d:\n%s", got, out)
	}

	// Still serving.
	if out, err := ingestTool(t, "echoscu", "-aec", "SONOLINK", n.host, n.port); err != nil {
		t.Fatalf("echo after the rejections: %v\n%s", err, out)
	}
	n.stop()

	st := ingestOpenStore(t, n.dataDir)
	all := ingestAllInstances(t, st)
	knownClass := ingestHeader(t, known).class
	if len(all) != 1 || all[0].SOPClassUID != knownClass {
		t.Errorf("index holds %d objects (%v), want only the known one", len(all), all)
	}
	ingestNoPHI(t, log)
}

// Must show 2 and 7: storescu and dcmsend send every sample; each is
// indexed and stored with the same elements and pixel data; the logs carry
// no patient data.
func TestE2EIngestAllSamples(t *testing.T) {
	testenv.Long(t, "end-to-end scenario")
	t.Parallel()
	files := ingestReadable(t)
	for _, sender := range []string{"storescu", "dcmsend"} {
		t.Run(sender, func(t *testing.T) {
			t.Parallel()
			log := &shareE2ELog{}
			n := ingestStart(t, shortTempDir(t), log)
			if sender == "storescu" {
				ingestStorescu(t, n, files)
			} else {
				ingestDcmsend(t, n, "MODALITY", files)
			}
			n.stop()
			st := ingestOpenStore(t, n.dataDir)
			ingestVerify(t, st, files)
			all := ingestAllInstances(t, st)
			ingestCheckFiles(t, st, all)
			if len(all) != len(files) {
				t.Errorf("index holds %d versions for %d samples", len(all), len(files))
			}
			ingestNoPHI(t, log)
		})
	}
}

// Must show 4: four dcmsend at once, each with its own copies of the
// samples, all succeed and every object is indexed and intact.
func TestE2EIngestFourSenders(t *testing.T) {
	testenv.Long(t, "end-to-end scenario")
	t.Parallel()
	log := &shareE2ELog{}
	n := ingestStart(t, shortTempDir(t), log)
	src := ingestMidSized(ingestReadable(t))
	var corpora [4][]string
	for i := range corpora {
		corpora[i] = ingestCorpus(t, filepath.Join(t.TempDir(), "c"), src, 1)
	}
	var wg sync.WaitGroup
	for i := range corpora {
		wg.Add(1)
		go func() {
			defer wg.Done()
			report := filepath.Join(t.TempDir(), "report.txt")
			args := append([]string{"-aet", fmt.Sprintf("SENDER%d", i), "-aec", "SONOLINK", "-dn", "+crf", report, n.host, n.port}, corpora[i]...)
			out, err := ingestTool(t, "dcmsend", args...)
			rep, _ := os.ReadFile(report)
			if m := ingestSuccessRE.FindSubmatch(rep); err != nil || m == nil || string(m[1]) != strconv.Itoa(len(corpora[i])) {
				t.Errorf("sender %d: %v, want %d successes\n%s\n%s", i, err, len(corpora[i]), out, rep)
			}
		}()
	}
	wg.Wait()
	n.stop()
	st := ingestOpenStore(t, n.dataDir)
	var all []string
	for _, c := range corpora {
		all = append(all, c...)
	}
	ingestVerify(t, st, all)
	if got := ingestAllInstances(t, st); len(got) != len(all) {
		t.Errorf("index holds %d versions, want %d", len(got), len(all))
	}
	ingestNoPHI(t, log)
}

// Must show 5: when the store cannot take the object, the modality gets a
// failure status (A700), never Success; once the store is back, sending
// works again.
func TestE2EIngestUnwritableStore(t *testing.T) {
	testenv.Long(t, "end-to-end scenario")
	t.Parallel()
	log := &shareE2ELog{}
	dataDir := shortTempDir(t)
	n := ingestStart(t, dataDir, log)
	files := ingestCorpus(t, t.TempDir(), []string{
		filepath.Join(testenv.Samples(t), "us/pydicom-data__OBXXXX1A.dcm"),
		filepath.Join(testenv.Samples(t), "sr/debian-pydicom__test-SR.dcm"),
	}, 2)
	ingestDcmsend(t, n, "MODALITY", files[:1])

	// Tests run as root, so permissions stop nothing: objects/ becomes a
	// regular file.
	objects := filepath.Join(dataDir, "objects")
	if err := os.Rename(objects, objects+".aside"); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(objects, []byte("not a directory"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, _ := ingestTool(t, "storescu", "-aet", "MODALITY", "-aec", "SONOLINK", "-v", n.host, n.port, files[1])
	if strings.Contains(out, "Store Response (Success)") || !regexp.MustCompile(`(?i)0xa700|out ?of ?resources`).MatchString(out) {
		t.Errorf("storescu to an unwritable store: want an A700 failure, got:\n%s", out)
	}
	report := filepath.Join(t.TempDir(), "report.txt")
	out, _ = ingestTool(t, "dcmsend", "-aet", "MODALITY", "-aec", "SONOLINK", "-v", "+crf", report, n.host, n.port, files[2])
	rep, _ := os.ReadFile(report)
	both := out + string(rep)
	if m := ingestSuccessRE.FindStringSubmatch(both); m != nil && m[1] != "0" {
		t.Errorf("dcmsend to an unwritable store reports a success:\n%s\n%s", out, rep)
	}
	if !regexp.MustCompile(`(?i)0xa700|out ?of ?resources`).MatchString(both) {
		t.Errorf("dcmsend to an unwritable store: want an A700 failure, got:\n%s\n%s", out, rep)
	}

	if err := os.Remove(objects); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(objects+".aside", objects); err != nil {
		t.Fatal(err)
	}
	ingestDcmsend(t, n, "MODALITY", files[1:])
	n.stop()
	st := ingestOpenStore(t, dataDir)
	ingestVerify(t, st, files)
	all := ingestAllInstances(t, st)
	ingestCheckFiles(t, st, all)
	if len(all) != len(files) {
		t.Errorf("index holds %d versions, want %d", len(all), len(files))
	}
	ingestNoPHI(t, log)
}

// ingestAcked parses dcmsend -d output: the SOP Instance UIDs whose C-STORE
// response said Success.
func ingestAcked(out string) map[string]bool {
	acked := map[string]bool{}
	inRsp, uid := false, ""
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		l := sc.Text()
		switch {
		case strings.Contains(l, "Message Type") && strings.Contains(l, "C-STORE RSP"):
			inRsp, uid = true, ""
		case inRsp && strings.Contains(l, "Affected SOP Instance UID"):
			uid = strings.TrimSpace(l[strings.LastIndex(l, ":")+1:])
		case inRsp && strings.Contains(l, "DIMSE Status"):
			if strings.Contains(l, "0x0000") && uid != "" {
				acked[uid] = true
			}
			inRsp = false
		}
	}
	return acked
}

// ingestStartupCheck returns the last start-up check line of the logs.
func ingestStartupCheck(t *testing.T, log *shareE2ELog) map[string]any {
	t.Helper()
	var last map[string]any
	for _, l := range strings.Split(log.String(), "\n") {
		var rec map[string]any
		if json.Unmarshal([]byte(l), &rec) == nil && rec["msg"] == "start-up check done" {
			last = rec
		}
	}
	if last == nil {
		t.Fatal("no start-up check in the logs")
	}
	return last
}

// Must show 6: kill -9 during transfers, restart, resend. Every object
// acknowledged before a kill is indexed with its file and content after the
// restart; no indexed entry lacks its file; resending everything succeeds
// and every object is present exactly once.
func TestE2EIngestKill9(t *testing.T) {
	testenv.Long(t, "end-to-end scenario")
	t.Parallel()
	log := &shareE2ELog{}
	dataDir := shortTempDir(t)
	corpus := ingestCorpus(t, t.TempDir(), ingestMidSized(ingestReadable(t)), 3)
	source := map[string]string{} // SOP Instance UID → file sent
	for _, f := range corpus {
		source[ingestHeader(t, f).sop] = f
	}
	rounds := 4
	acked := map[string]bool{}
	killedDuring := 0
	for r := 0; r < rounds; r++ {
		n := ingestStart(t, dataDir, log)
		// -d prints each response with its SOP Instance UID and status.
		// The kill comes at a random moment after a random number of
		// responses, so it lands in the middle of a transfer.
		args := append([]string{"-d", "-aet", "MODALITY", "-aec", "SONOLINK", "-dn", "-nh", n.host, n.port}, corpus...)
		cmd := exec.Command(testenv.Tool(t, "dcmsend"), args...)
		cmd.Env = append(os.Environ(), "TCP_NODELAY=1")
		pipe, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stderr = cmd.Stdout
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		killAfter := 1 + mrand.IntN(len(corpus)-1)
		var out strings.Builder
		sc := bufio.NewScanner(pipe)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		responses, killed := 0, false
		for sc.Scan() {
			out.WriteString(sc.Text() + "\n")
			if strings.Contains(sc.Text(), "DIMSE Status") {
				responses++
			}
			if !killed && responses >= killAfter {
				killed = true
				go func() {
					time.Sleep(time.Duration(mrand.IntN(20)) * time.Millisecond)
					n.kill9()
				}()
			}
		}
		_ = cmd.Wait()
		n.kill9()
		got := ingestAcked(out.String())
		if len(got) < len(corpus) {
			killedDuring++
		}
		t.Logf("round %d: %d of %d objects acknowledged before kill -9", r, len(got), len(corpus))
		for uid := range got {
			if source[uid] == "" {
				t.Fatalf("dcmsend acknowledged an unknown UID %q", uid)
			}
			acked[uid] = true
		}

		// Restart on the same data directory, then look at the store.
		n = ingestStart(t, dataDir, log)
		n.stop()
		chk := ingestStartupCheck(t, log)
		if chk["incomplete"] == nil {
			t.Errorf("round %d: no start-up check logged: %v", r, chk)
		}
		st, err := store.Open(dataDir, store.Options{Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		// The full check is the scrub's: it finds no damage.
		if sr, err := st.Scrub(t.Context(), store.ScrubOptions{}); err != nil || sr.Missing != 0 || sr.Unreadable != 0 {
			t.Errorf("round %d: scrub found damage: %+v %v", r, sr, err)
		}
		all := ingestAllInstances(t, st)
		ingestCheckFiles(t, st, all)
		indexed := map[string]bool{}
		for _, in := range all {
			indexed[in.SOPInstanceUID] = true
			if in.Conflict {
				t.Errorf("round %d: conflict version of %s after kill -9 (half-written object kept?)", r, in.Key)
			}
			// Nothing indexed is half-written: it matches what was sent.
			if diffs, err := ingestCompare(source[in.SOPInstanceUID], st.ObjectPath(&in)); err != nil || len(diffs) > 0 {
				t.Errorf("round %d: indexed %s differs from the sample: %v %v", r, in.Key, err, diffs)
			}
		}
		for uid := range acked {
			if !indexed[uid] {
				t.Errorf("round %d: acknowledged object %s lost after kill -9", r, store.InstanceKey(uid))
			}
		}
		st.Close()
	}
	if killedDuring == 0 {
		t.Logf("warning: every round finished sending before the kill")
	}

	// Resend everything: all succeed, each object exactly once.
	n := ingestStart(t, dataDir, log)
	ingestDcmsend(t, n, "MODALITY", corpus)
	n.stop()
	st := ingestOpenStore(t, dataDir)
	all := ingestAllInstances(t, st)
	ingestCheckFiles(t, st, all)
	if len(all) != len(corpus) {
		t.Errorf("after the resend the index holds %d versions, want %d (one per object)", len(all), len(corpus))
	}
	ingestVerify(t, st, corpus)
	ingestNoPHI(t, log)
}
