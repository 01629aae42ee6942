package admin

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"unicode"

	"sonolink/i18n"
	"sonolink/share"
)

// A selection names objects as the patient page labels them (see
// share.LabelItems): "image 2", "Image 2-4", "video 1", "report 1", short
// "i2", "v1", "r1", or the word of any language the pages speak ("bild 2",
// "imagen 3", "informe 1"). Parts are separated by commas or semicolons;
// a word applies to the numbers after it in its part ("image 1 3 5-8").
// A bare number ("2", "5-8") is accepted when the study's labelled objects
// are all of one kind; otherwise it must say which kind.

// selPart is one parsed range: a kind group ("" when the number is bare)
// and numbers lo..hi.
type selPart struct {
	group  string
	lo, hi int
	text   string
}

// kindWords maps a lower-case word to the kind group it names.
var kindWords = func() map[string]string {
	m := map[string]string{
		"i": share.KindImage, "img": share.KindImage, "image": share.KindImage, "images": share.KindImage,
		"v": share.KindCine, "video": share.KindCine, "videos": share.KindCine, "cine": share.KindCine,
		"r": share.KindReport, "report": share.KindReport, "reports": share.KindReport, "pdf": share.KindReport, "sr": share.KindReport,
	}
	for _, lang := range i18n.Languages() {
		loc := i18n.Lookup(lang)
		for _, k := range []string{share.KindImage, share.KindCine, share.KindPDF, share.KindReport} {
			w := strings.ToLower(strings.TrimSpace(loc.T("kind."+k, "n", "")))
			if w == "" || strings.ContainsAny(w, " {") {
				continue
			}
			g := share.ItemLabel{Kind: k}.Group()
			m[w], m[fold(w)] = g, g
		}
	}
	return m
}()

// fold drops the accents a technician may not type ("vídeo" → "video").
func fold(s string) string {
	return strings.NewReplacer("á", "a", "é", "e", "í", "i", "ó", "o", "ú", "u", "ñ", "n", "å", "a", "ä", "a", "ö", "o").Replace(s)
}

// parseSelection reads a selection; it does not know the study yet.
func parseSelection(s string) ([]selPart, error) {
	var out []selPart
	bad := func(part string) error {
		return errorf(KindInvalid, "--images %q: %q is not an object as 'sonolink study' labels it; e.g. --images \"image 1, image 3-5, video 1\" (or i1,i3-5,v1)", s, strings.TrimSpace(part))
	}
	for _, part := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ';' }) {
		group := ""
		// "i2" and "image2" are a word and a number written together.
		var words []string
		for _, w := range strings.Fields(strings.ToLower(part)) {
			i := strings.IndexFunc(w, unicode.IsDigit)
			if i > 0 {
				words = append(words, w[:i], w[i:])
			} else {
				words = append(words, w)
			}
		}
		numbers := 0
		for _, w := range words {
			if g, ok := kindWords[w]; ok {
				group = g
				continue
			}
			if g, ok := kindWords[fold(w)]; ok {
				group = g
				continue
			}
			lo, hi, isRange := strings.Cut(w, "-")
			a, err1 := strconv.Atoi(lo)
			b := a
			var err2 error
			if isRange {
				b, err2 = strconv.Atoi(hi)
			}
			if err1 != nil || err2 != nil || a < 1 || b < a {
				return nil, bad(part)
			}
			if b-a > 100000 {
				return nil, errorf(KindInvalid, "--images %q: range %q is too large", s, w)
			}
			out = append(out, selPart{group: group, lo: a, hi: b, text: strings.TrimSpace(part)})
			numbers++
		}
		if numbers == 0 {
			return nil, bad(part)
		}
	}
	if len(out) == 0 {
		return nil, errorf(KindInvalid, "--images %q selects nothing; name objects as 'sonolink study' labels them, e.g. --images \"image 1, image 3-5, video 1\"", s)
	}
	return out, nil
}

// CheckImages checks the form of a selection before a study is at hand.
func CheckImages(s string) error {
	_, err := parseSelection(s)
	return err
}

// SelectObjects returns the indexes into objs (in study order) of the
// objects a selection names.
func SelectObjects(s string, objs []Object) ([]int, error) {
	parts, err := parseSelection(s)
	if err != nil {
		return nil, err
	}
	groups := map[string]bool{}
	byLabel := map[string]int{}
	for i, o := range objs {
		if o.Number > 0 {
			groups[o.Group] = true
			byLabel[o.Group+"\x00"+strconv.Itoa(o.Number)] = i
		}
	}
	var only string
	if len(groups) == 1 {
		for g := range groups {
			only = g
		}
	}
	seen := map[int]bool{}
	var out []int
	for _, p := range parts {
		g := p.group
		if g == "" {
			if only == "" {
				return nil, errorf(KindInvalid, "--images %q: %q: the study has %s; say which, as 'sonolink study' labels them, e.g. --images \"%s\"", s, p.text, groupList(groups), example(objs))
			}
			g = only
		}
		for n := p.lo; n <= p.hi; n++ {
			i, ok := byLabel[g+"\x00"+strconv.Itoa(n)]
			if !ok {
				return nil, errorf(KindInvalid, "--images %q: the study has no %s %d; see the labels with 'sonolink study'", s, groupWord(g), n)
			}
			if !seen[i] {
				seen[i] = true
				out = append(out, i)
			}
		}
	}
	sort.Ints(out)
	return out, nil
}

func groupWord(g string) string {
	switch g {
	case share.KindCine:
		return "video"
	case share.KindReport:
		return "report"
	}
	return "image"
}

func groupList(groups map[string]bool) string {
	var ws []string
	for _, g := range []string{share.KindImage, share.KindCine, share.KindReport} {
		if groups[g] {
			ws = append(ws, groupWord(g)+"s")
		}
	}
	if len(ws) == 0 {
		return "no object a patient page shows"
	}
	if len(ws) == 1 {
		return ws[0]
	}
	return strings.Join(ws[:len(ws)-1], ", ") + " and " + ws[len(ws)-1]
}

// example is a selection of the first object of each group.
func example(objs []Object) string {
	var ex []string
	done := map[string]bool{}
	for _, o := range objs {
		if o.Number > 0 && !done[o.Group] {
			done[o.Group] = true
			ex = append(ex, fmt.Sprintf("%s %d", groupWord(o.Group), o.Number))
		}
	}
	return strings.Join(ex, ", ")
}
