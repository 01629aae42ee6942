package web

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"sonolink/i18n"
	"sonolink/internal/logid"
	"sonolink/render"
	"sonolink/share"
)

// reportView is a structured report as the report page shows it.
type reportView struct {
	Title     string // the document's own title, e.g. "Imaging Measurement Report"
	Sections  []sectionView
	Truncated bool
	// Relations: some line has a relationship word, shown only after
	// "Show details".
	Relations bool
	Text      string // link to report.txt
	Download  string
}

type sectionView struct {
	Heading string
	Sub     bool // heading of a nested container (h3 rather than h2)
	Lines   []lineView
}

type lineView struct {
	Label, Value string
	Relation     string // localized, empty for plain CONTAINS
	Ref          bool
	Depth        string // CSS class "d0" … "d6"
}

func viewReport(r *render.Report, l *i18n.Locale) *reportView {
	v := &reportView{Title: r.Title, Truncated: r.Truncated}
	for _, s := range r.Sections {
		sv := sectionView{Heading: s.Heading, Sub: s.Level > 1}
		for _, ln := range s.Lines {
			lv := lineView{Label: ln.Label, Value: ln.Value, Ref: ln.Kind == "ref", Depth: fmt.Sprintf("d%d", min(ln.Depth, 6))}
			if ln.Relation != "" {
				lv.Relation = render.ReportWord(l, ln.Relation)
				v.Relations = true
			}
			sv.Lines = append(sv.Lines, lv)
		}
		v.Sections = append(v.Sections, sv)
	}
	return v
}

// report loads the structured report of a visible "report" item.
func (s *server) report(w http.ResponseWriter, r *http.Request, rc *reqCtx) (*Item, *render.Report, bool) {
	it, ok := s.item(w, r, rc)
	if !ok {
		return nil, nil, false
	}
	if it.Kind != "report" {
		s.errorPage(w, rc.loc, http.StatusNotFound, "err.notfound.title", "err.notfound.text")
		return nil, nil, false
	}
	rep, err := s.b.Report(r.Context(), rc.link.ID, it.Index)
	if err != nil {
		if !errors.Is(err, ErrNotFound) {
			s.cfg.Logger.Error("web: report failed", logid.Study(rc.link.StudyUID), "link", rc.link.ID, "item", it.Index, "err", err)
		}
		s.errorPage(w, rc.loc, http.StatusNotFound, "err.notfound.title", "err.notfound.text")
		return nil, nil, false
	}
	return it, rep, true
}

// reportPage shows a structured report as a page of its own.
func (s *server) reportPage(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	it, rep, ok := s.report(w, r, rc)
	if !ok {
		return
	}
	items, err := s.b.Items(r.Context(), rc.link.ID)
	if err != nil {
		s.cfg.Logger.Error("web: items failed", logid.Study(rc.link.StudyUID), "link", rc.link.ID, "err", err)
		s.errorPage(w, rc.loc, http.StatusInternalServerError, "err.internal.title", "err.internal.text")
		return
	}
	label := s.labels(items, rc)[it.Index]
	p := fmt.Sprintf("%s/i/%d/", rc.base, it.Index)
	d := &pageData{
		L: rc.loc, Base: rc.base, BodyClass: "report-page", Title: label, Heading: label,
		Clinic: &rc.clinic,
		Report: viewReport(rep, rc.loc),
	}
	d.Report.Text, d.Report.Download = p+"report.txt", p+"download"
	s.render(w, http.StatusOK, "report", d)
}

// reportText answers the report as plain UTF-8 text; attachment names the
// download.
func (s *server) reportText(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	it, rep, ok := s.report(w, r, rc)
	if !ok {
		return
	}
	s.serveReportText(w, r, rc, it, rep, "")
}

func (s *server) serveReportText(w http.ResponseWriter, r *http.Request, rc *reqCtx, it *Item, rep *render.Report, attachment string) {
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("Cache-Control", "private, no-store")
	if attachment != "" {
		h.Set("Content-Disposition", `attachment; filename="`+attachment+`"`)
	}
	_, _ = w.Write([]byte(reportText(rep, rc.loc)))
}

// reportText is the text form, with Windows line ends so that every
// editor a patient may open it in shows the lines.
func reportText(rep *render.Report, l *i18n.Locale) string {
	return strings.ReplaceAll(rep.Text(l), "\n", "\r\n")
}

// labels names the items this session may see, as the landing page does:
// "Image 2", "Video 1", "Report 1" (PDF and structured reports counted
// together).
// (share.LabelItems is the one home of that naming; `sonolink study`
// uses it too.)
func (s *server) labels(items []Item, rc *reqCtx) map[int]string {
	var shown []Item
	var kinds []string
	for _, it := range items {
		if it.Residual && !rc.sess.has(fPassword) {
			continue
		}
		shown = append(shown, it)
		kinds = append(kinds, it.Kind)
	}
	out := map[int]string{}
	for i, l := range share.LabelItems(kinds) {
		if shown[i].Label.Kind != "" {
			l = shown[i].Label
		}
		out[shown[i].Index] = shown[i].Title
		if shown[i].Title == "" {
			out[shown[i].Index] = l.In(rc.loc)
		}
	}
	return out
}
