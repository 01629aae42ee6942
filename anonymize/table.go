package anonymize

import (
	"bytes"
	_ "embed"
	"encoding/csv"
	"fmt"
	"strconv"
	"strings"

	"github.com/suyashkumar/dicom/pkg/tag"
)

// tableCSV is PS3.15 Table E.1-1, edition 2024b (see PROVENANCE.md).
//
//go:embed ps315-table-e1-1-2024b.csv
var tableCSV []byte

// TableEdition names the edition of PS3.15 Table E.1-1 the package applies.
const TableEdition = "2024b"

// rule is one row of Table E.1-1: the action of the Basic Profile and the
// action under each option (empty when the option does not change it).
type rule struct {
	name string
	// basic is the Basic Profile action: "X", "Z", "D", "U", "K", "C" or a
	// combined code such as "X/Z/D".
	basic            string
	safePriv         string
	retainUIDs       string
	retainDevice     string
	retainInst       string
	retainPatChars   string
	retainFullDates  string
	retainModifDates string
	cleanDesc        string
	cleanStruct      string
	cleanGraph       string
}

// profileTable is Table E.1-1 parsed: concrete tags, and the pattern rows.
type profileTable struct {
	rules     map[tag.Tag]*rule
	curve     *rule // (50xx,xxxx)
	overlay   *rule // (60xx,3000)
	ovComment *rule // (60xx,4000)
	private   *rule // odd groups
	rows      int
}

var table = mustParseTable(tableCSV)

func mustParseTable(b []byte) *profileTable {
	t, err := parseTable(b)
	if err != nil {
		panic("anonymize: embedded Table E.1-1: " + err.Error())
	}
	return t
}

func parseTable(b []byte) (*profileTable, error) {
	r := csv.NewReader(bytes.NewReader(b))
	recs, err := r.ReadAll()
	if err != nil {
		return nil, err
	}
	if len(recs) < 2 {
		return nil, fmt.Errorf("no rows")
	}
	col := map[string]int{}
	for i, h := range recs[0] {
		col[h] = i
	}
	for _, need := range []string{"tag", "name", "basic", "rtn_safe_priv", "rtn_uids", "rtn_dev_id", "rtn_inst_id", "rtn_pat_chars", "rtn_long_full_dates", "rtn_long_modif_dates", "clean_desc", "clean_struct_cont", "clean_graph"} {
		if _, ok := col[need]; !ok {
			return nil, fmt.Errorf("column %q missing", need)
		}
	}
	t := &profileTable{rules: map[tag.Tag]*rule{}}
	for _, rec := range recs[1:] {
		ru := &rule{
			name:             strings.Join(strings.Fields(rec[col["name"]]), " "),
			basic:            strings.TrimSpace(rec[col["basic"]]),
			safePriv:         rec[col["rtn_safe_priv"]],
			retainUIDs:       rec[col["rtn_uids"]],
			retainDevice:     rec[col["rtn_dev_id"]],
			retainInst:       rec[col["rtn_inst_id"]],
			retainPatChars:   rec[col["rtn_pat_chars"]],
			retainFullDates:  rec[col["rtn_long_full_dates"]],
			retainModifDates: rec[col["rtn_long_modif_dates"]],
			cleanDesc:        rec[col["clean_desc"]],
			cleanStruct:      rec[col["clean_struct_cont"]],
			cleanGraph:       rec[col["clean_graph"]],
		}
		if ru.basic == "" {
			return nil, fmt.Errorf("row %q without a basic action", rec[col["tag"]])
		}
		key := strings.ToLower(strings.TrimSpace(rec[col["tag"]]))
		switch {
		case key == "(50xx,xxxx)":
			t.curve = ru
		case key == "(60xx,3000)":
			t.overlay = ru
		case key == "(60xx,4000)":
			t.ovComment = ru
		case strings.HasPrefix(key, "(gggg,eeee)"):
			t.private = ru
		default:
			tg, err := parseTag(key)
			if err != nil {
				return nil, err
			}
			t.rules[tg] = ru
		}
		t.rows++
	}
	if t.curve == nil || t.overlay == nil || t.ovComment == nil || t.private == nil {
		return nil, fmt.Errorf("pattern rows missing")
	}
	return t, nil
}

func parseTag(s string) (tag.Tag, error) {
	s = strings.Trim(s, "() ")
	g, e, ok := strings.Cut(s, ",")
	if !ok {
		return tag.Tag{}, fmt.Errorf("bad tag %q", s)
	}
	gv, err1 := strconv.ParseUint(g, 16, 16)
	ev, err2 := strconv.ParseUint(e, 16, 16)
	if err1 != nil || err2 != nil {
		return tag.Tag{}, fmt.Errorf("bad tag %q", s)
	}
	return tag.Tag{Group: uint16(gv), Element: uint16(ev)}, nil
}

// lookup returns the rule for t (concrete rows first, then the pattern
// rows), or nil when Table E.1-1 does not list the attribute.
func (t *profileTable) lookup(tg tag.Tag) *rule {
	if r, ok := t.rules[tg]; ok {
		return r
	}
	switch {
	case tg.Group&1 == 1:
		return t.private
	case tg.Group&0xFF00 == 0x5000:
		return t.curve
	case tg.Group&0xFF00 == 0x6000 && tg.Element == 0x3000:
		return t.overlay
	case tg.Group&0xFF00 == 0x6000 && tg.Element == 0x4000:
		return t.ovComment
	}
	return nil
}
