package bench

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"sonolink/anonymize"
	"sonolink/render"
)

// processEnv names the input and output of the child process of
// BenchmarkProcessPeakRSS; the test binary re-executed with it set runs
// TestProcessChild and nothing else.
const processEnv = "SONOLINK_BENCH_PROCESS"

// processBytes is the size of the object BenchmarkProcessPeakRSS
// processes (SONOLINK_BENCH_PROCESS_MB overrides it, for a quicker run).
const processBytes = 1 << 30

// BenchmarkProcessPeakRSS de-identifies and renders one native multi-frame
// ultrasound object of about 1 GiB (800×600 RGB frames, with a Sequence of
// Ultrasound Regions, so every frame is masked) as the pipeline does — the
// de-identified copy written to a file, then rendered from that copy — in a
// child process, and reports the child's peak resident memory above its
// resident memory before the work (VmHWM − VmRSS from /proc/self/status)
// and the time per frame of each step.
func BenchmarkProcessPeakRSS(b *testing.B) {
	size := int64(processBytes)
	if v, err := strconv.Atoi(os.Getenv("SONOLINK_BENCH_PROCESS_MB")); err == nil && v > 0 {
		size = int64(v) << 20
	}
	dir := b.TempDir()
	in := filepath.Join(dir, "cine.dcm")
	frames := writeBigRGBCine(b, in, size)
	st, err := os.Stat(in)
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("object: %d frames of 800×600 RGB, %.0f MB", frames, float64(st.Size())/1e6)
	for i := 0; i < b.N; i++ {
		out := filepath.Join(dir, fmt.Sprintf("out%d", i))
		if err := os.MkdirAll(out, 0o755); err != nil {
			b.Fatal(err)
		}
		cmd := exec.Command(os.Args[0], "-test.run=^TestProcessChild$", "-test.v")
		cmd.Env = append(os.Environ(), processEnv+"="+in+string(os.PathListSeparator)+out)
		msg, err := cmd.CombinedOutput()
		if err != nil {
			b.Fatalf("child: %v\n%s", err, msg)
		}
		var r processReport
		line := ""
		for _, l := range strings.Split(string(msg), "\n") {
			if s, ok := strings.CutPrefix(l, "PROCESS "); ok {
				line = s
			}
		}
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			b.Fatalf("child report %q: %v\n%s", line, err, msg)
		}
		if r.Frames != frames {
			b.Fatalf("rendered %d frames, want %d", r.Frames, frames)
		}
		if !r.Clean {
			b.Fatalf("copy is residual: %v", r.Reasons)
		}
		b.ReportMetric(float64(r.IdleKB)/1024, "idle-MB")
		b.ReportMetric(float64(r.PeakKB-r.IdleKB)/1024, "peak-above-idle-MB")
		b.ReportMetric(float64(r.AfterKB-r.IdleKB)/1024, "after-above-idle-MB")
		b.ReportMetric(r.DeidSec*1000/float64(frames), "deid-ms/frame")
		b.ReportMetric(r.RenderSec*1000/float64(frames), "render-ms/frame")
		b.ReportMetric((r.DeidSec+r.RenderSec)*1000/float64(frames), "ms/frame")
		os.RemoveAll(out)
	}
}

// processReport is what the child prints, as one "PROCESS {json}" line.
type processReport struct {
	IdleKB, PeakKB, AfterKB int64
	DeidSec, RenderSec      float64
	Frames                  int
	Clean                   bool
	Reasons                 []string
}

// TestProcessChild is the child of BenchmarkProcessPeakRSS; without
// SONOLINK_BENCH_PROCESS it does nothing.
func TestProcessChild(t *testing.T) {
	env := os.Getenv(processEnv)
	if env == "" {
		t.Skip("child of BenchmarkProcessPeakRSS")
	}
	in, out, _ := strings.Cut(env, string(os.PathListSeparator))
	a, err := anonymize.New(anonymize.Options{Secret: make([]byte, 32)})
	if err != nil {
		t.Fatal(err)
	}
	r := processReport{IdleKB: selfStatusKB(t, "VmRSS")}
	start := time.Now()
	deid := filepath.Join(out, "deid.dcm")
	f, err := os.Create(deid)
	if err != nil {
		t.Fatal(err)
	}
	res, err := a.File(in, f)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	r.DeidSec = time.Since(start).Seconds()
	r.Clean, r.Reasons = res.Verdict.Clean, res.Verdict.Reasons
	start = time.Now()
	put := func(name string, write func(io.Writer) error) error {
		p := filepath.Join(out, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		f, err := os.Create(p)
		if err != nil {
			return err
		}
		if err := write(f); err != nil {
			f.Close()
			return err
		}
		return f.Close()
	}
	r.Frames, err = renderFile(deid, put)
	if err != nil {
		t.Fatal(err)
	}
	r.RenderSec = time.Since(start).Seconds()
	r.PeakKB, r.AfterKB = selfStatusKB(t, "VmHWM"), selfStatusKB(t, "VmRSS")
	line, _ := json.Marshal(r)
	fmt.Printf("PROCESS %s\n", line)
}

func selfStatusKB(t *testing.T, field string) int64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(data), "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok && k == field {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n
		}
	}
	t.Fatalf("no %s in /proc/self/status", field)
	return 0
}

// writeBigRGBCine writes an Explicit VR Little Endian Ultrasound
// Multi-frame object of about size bytes: 800×600 RGB frames (a moving
// pattern, so frames differ), a Sequence of Ultrasound Regions with one
// region, and patient data for the verification to look for. The pixel
// data is streamed, so the benchmark itself stays small. It returns the
// number of frames.
func writeBigRGBCine(b *testing.B, path string, size int64) int {
	const rows, cols = 600, 800
	const frameSize = rows * cols * 3
	frames := int(size / frameSize)
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	w := bufio.NewWriterSize(f, 1<<20)
	le := binary.LittleEndian
	header := func(buf []byte, group, elemNo uint16, vr string, n int) []byte {
		buf = le.AppendUint16(buf, group)
		buf = le.AppendUint16(buf, elemNo)
		if vr == "" { // item or delimiter: implicit
			return le.AppendUint32(buf, uint32(n))
		}
		buf = append(buf, vr...)
		switch vr {
		case "OB", "OW", "SQ", "UN", "UT":
			buf = append(buf, 0, 0)
			return le.AppendUint32(buf, uint32(n))
		}
		return le.AppendUint16(buf, uint16(n))
	}
	elem := func(buf []byte, group, elemNo uint16, vr string, val []byte) []byte {
		if len(val)%2 == 1 {
			pad := byte(' ')
			if vr == "UI" || vr == "OB" {
				pad = 0
			}
			val = append(val, pad)
		}
		return append(header(buf, group, elemNo, vr, len(val)), val...)
	}
	u16 := func(v uint16) []byte { return le.AppendUint16(nil, v) }
	u32 := func(v uint32) []byte { return le.AppendUint32(nil, v) }
	f64 := func(v float64) []byte { return le.AppendUint64(nil, math.Float64bits(v)) }
	sop, study, series := randomUID(), randomUID(), randomUID()
	const class = "1.2.840.10008.5.1.4.1.1.3.1"
	var meta []byte
	meta = elem(meta, 0x0002, 0x0001, "OB", []byte{0, 1})
	meta = elem(meta, 0x0002, 0x0002, "UI", []byte(class))
	meta = elem(meta, 0x0002, 0x0003, "UI", []byte(sop))
	meta = elem(meta, 0x0002, 0x0010, "UI", []byte("1.2.840.10008.1.2.1"))
	meta = elem(meta, 0x0002, 0x0012, "UI", []byte("2.25.1"))
	var region []byte
	region = elem(region, 0x0018, 0x6012, "US", u16(1))
	region = elem(region, 0x0018, 0x6014, "US", u16(1))
	region = elem(region, 0x0018, 0x6016, "UL", u32(0))
	region = elem(region, 0x0018, 0x6018, "UL", u32(100))
	region = elem(region, 0x0018, 0x601A, "UL", u32(80))
	region = elem(region, 0x0018, 0x601C, "UL", u32(699))
	region = elem(region, 0x0018, 0x601E, "UL", u32(559))
	region = elem(region, 0x0018, 0x6024, "US", u16(3))
	region = elem(region, 0x0018, 0x6026, "US", u16(3))
	region = elem(region, 0x0018, 0x602C, "FD", f64(0.01))
	region = elem(region, 0x0018, 0x602E, "FD", f64(0.01))
	var ds []byte
	ds = append(ds, make([]byte, 128)...)
	ds = append(ds, "DICM"...)
	ds = elem(ds, 0x0002, 0x0000, "UL", u32(uint32(len(meta))))
	ds = append(ds, meta...)
	ds = elem(ds, 0x0008, 0x0016, "UI", []byte(class))
	ds = elem(ds, 0x0008, 0x0018, "UI", []byte(sop))
	ds = elem(ds, 0x0008, 0x0060, "CS", []byte("US"))
	ds = elem(ds, 0x0008, 0x0080, "LO", []byte("Bench General Hospital"))
	ds = elem(ds, 0x0010, 0x0010, "PN", []byte("BENCHMARK^BIGCINE"))
	ds = elem(ds, 0x0010, 0x0020, "LO", []byte("BIGCINE-0001"))
	ds = elem(ds, 0x0010, 0x0030, "DA", []byte("19700101"))
	ds = elem(ds, 0x0018, 0x1063, "DS", []byte("33.3"))
	ds = header(ds, 0x0018, 0x6011, "SQ", 8+len(region))
	ds = header(ds, 0xFFFE, 0xE000, "", len(region))
	ds = append(ds, region...)
	ds = elem(ds, 0x0020, 0x000D, "UI", []byte(study))
	ds = elem(ds, 0x0020, 0x000E, "UI", []byte(series))
	ds = elem(ds, 0x0028, 0x0002, "US", u16(3))
	ds = elem(ds, 0x0028, 0x0004, "CS", []byte("RGB"))
	ds = elem(ds, 0x0028, 0x0006, "US", u16(0))
	ds = elem(ds, 0x0028, 0x0008, "IS", []byte(strconv.Itoa(frames)))
	ds = elem(ds, 0x0028, 0x0010, "US", u16(rows))
	ds = elem(ds, 0x0028, 0x0011, "US", u16(cols))
	ds = elem(ds, 0x0028, 0x0100, "US", u16(8))
	ds = elem(ds, 0x0028, 0x0101, "US", u16(8))
	ds = elem(ds, 0x0028, 0x0102, "US", u16(7))
	ds = elem(ds, 0x0028, 0x0103, "US", u16(0))
	ds = header(ds, 0x7FE0, 0x0010, "OB", frames*frameSize)
	w.Write(ds)
	frame := make([]byte, frameSize)
	for i := 0; i < frames; i++ {
		for p := 0; p < rows*cols; p++ {
			x, y := p%cols, p/cols
			v := byte(x + y + 4*i)
			frame[3*p], frame[3*p+1], frame[3*p+2] = v, v, byte(y/2)
		}
		w.Write(frame)
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	return frames
}

// renderFile renders the de-identified copy at path as the pipeline does
// and returns the number of frames.
func renderFile(path string, put func(name string, write func(io.Writer) error) error) (int, error) {
	out, err := render.File(path, put)
	if err != nil {
		return 0, err
	}
	return out.Frames, nil
}
