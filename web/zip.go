package web

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"sonolink/dicom/dicomdir"
	"sonolink/internal/logid"
)

// The two downloads of a whole study: everything (the images, reports,
// and the DICOM objects with a DICOMDIR, for a doctor), or the images and
// videos only (what a patient keeps and shares).
const (
	zipEverything = iota
	zipPictures
)

// zipAll serves the ZIP of everything this session may see: the viewable
// images (JPEG, and MP4 or animated GIF for a loop), PDF reports,
// structured reports as text, and the DICOM objects under DICOM/ with a
// DICOMDIR at the root.
func (s *server) zipAll(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	s.serveZip(w, r, rc, zipEverything)
}

// zipImages serves the ZIP of the images and videos only.
func (s *server) zipImages(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	s.serveZip(w, r, rc, zipPictures)
}

// serveZip streams a ZIP with its exact length announced. Its layout is
// fixed by the names and lengths of the files it holds: files are stored,
// not compressed (images and videos are compressed already), and what is
// generated (DICOMDIR, texts) is generated in full either way. So writing
// it once with every file's bytes replaced by as many zeros gives its
// length, which the landing page shows too. Once streaming has begun a
// failure aborts the connection, so a broken download never looks like a
// complete one (a file that changed in between breaks the length, and so
// aborts too).
func (s *server) serveZip(w http.ResponseWriter, r *http.Request, rc *reqCtx, set int) {
	if !rc.gatesPassed() {
		s.errorPage(w, rc.loc, http.StatusForbidden, "err.form.title", "err.gate.text")
		return
	}
	ctx := r.Context()
	items, err := s.b.Items(ctx, rc.link.ID)
	if err != nil {
		s.cfg.Logger.Error("web: items failed", logid.Study(rc.link.StudyUID), "link", rc.link.ID, "err", err)
		s.errorPage(w, rc.loc, http.StatusInternalServerError, "err.internal.title", "err.internal.text")
		return
	}
	size, err := s.zipSize(ctx, rc, items, set)
	if err != nil {
		s.cfg.Logger.Error("web: zip not sized", logid.Study(rc.link.StudyUID), "link", rc.link.ID, "err", err)
		s.errorPage(w, rc.loc, http.StatusInternalServerError, "err.internal.title", "err.internal.text")
		return
	}
	name := "ultrasound"
	if set == zipPictures {
		name += "-images"
	}
	if !rc.link.ExamDate.IsZero() {
		name += "-" + rc.link.ExamDate.Format("2006-01-02")
	}
	h := w.Header()
	h.Set("Content-Type", "application/zip")
	h.Set("Content-Disposition", `attachment; filename="`+name+`.zip"`)
	h.Set("Cache-Control", "private, no-store")
	h.Set("Content-Length", strconv.FormatInt(size, 10))
	if err := s.writeZip(ctx, w, rc, items, set, false); err != nil {
		s.cfg.Logger.Error("web: zip aborted", logid.Study(rc.link.StudyUID), "link", rc.link.ID, "err", err)
		panic(http.ErrAbortHandler)
	}
}

// zipSize returns the exact length of the ZIP serveZip sends.
func (s *server) zipSize(ctx context.Context, rc *reqCtx, items []Item, set int) (int64, error) {
	var c countingWriter
	err := s.writeZip(ctx, &c, rc, items, set, true)
	return c.n, err
}

// zipSizes remembers the sizes the landing page shows, so a page view
// does not open every file of the study again. The key holds all that
// the ZIP's layout depends on from the page's side: link, set, language,
// what the session may see, and each item's state. A download always
// sizes itself afresh.
type zipSizes struct {
	mu sync.Mutex
	m  map[string]int64
}

// shownSize returns the size of the ZIP of set, from memory when the
// same ZIP was sized before.
func (s *server) shownSize(ctx context.Context, rc *reqCtx, items []Item, set int) (int64, error) {
	var k strings.Builder
	fmt.Fprintf(&k, "%s\x00%d\x00%s\x00%t\x00%s", rc.link.ID, set, rc.loc.Lang(), rc.sess.has(fPassword), rc.clinic.Name)
	for _, it := range items {
		fmt.Fprintf(&k, "\x00%+v", it)
	}
	key := k.String()
	c := &s.sizes
	c.mu.Lock()
	n, ok := c.m[key]
	c.mu.Unlock()
	if ok {
		return n, nil
	}
	n, err := s.zipSize(ctx, rc, items, set)
	if err != nil {
		return 0, err
	}
	c.mu.Lock()
	if c.m == nil || len(c.m) >= 1024 {
		c.m = map[string]int64{} // bounded: start again rather than grow
	}
	c.m[key] = n
	c.mu.Unlock()
	return n, nil
}

type countingWriter struct{ n int64 }

func (c *countingWriter) Write(p []byte) (int, error) {
	c.n += int64(len(p))
	return len(p), nil
}

// writeZip writes the ZIP of set to w; sizing writes zeros for the
// files' bytes (see serveZip).
func (s *server) writeZip(ctx context.Context, w io.Writer, rc *reqCtx, items []Item, set int, sizing bool) error {
	zw := zip.NewWriter(w)
	var dir []dicomdir.File
	for _, it := range items {
		if !rc.mayReveal(&it) {
			continue
		}
		var src, dst string
		switch it.Kind {
		case "report":
			if set == zipPictures {
				continue
			}
			if err := s.zipReport(ctx, zw, rc, &it); err != nil {
				return fmt.Errorf("report.txt: %w", err)
			}
		case "cine":
			src, dst = "loop.gif", fmt.Sprintf("images/%02d-loop.gif", it.Index)
			if it.Video {
				src, dst = "loop.mp4", fmt.Sprintf("images/%02d-loop.mp4", it.Index)
			}
		case "pdf":
			if set == zipPictures {
				continue
			}
			src, dst = "report.pdf", fmt.Sprintf("reports/%02d-report.pdf", it.Index)
		default:
			src, dst = "frame/0001.jpg", fmt.Sprintf("images/%02d-image.jpg", it.Index)
		}
		if set == zipPictures {
			dst = strings.TrimPrefix(dst, "images/")
		}
		if src != "" {
			if err := s.zipCopy(ctx, zw, rc, it.Index, src, dst, sizing, nil); err != nil {
				return fmt.Errorf("%s: %w", src, err)
			}
		}
		if set == zipPictures {
			continue
		}
		// The DICOM object, de-identified unless residual (then the
		// password has been given, or mayReveal would have said no).
		fileID := dicomdir.FileName(len(dir) + 1)
		var hdr dicomdir.File
		err := s.zipCopy(ctx, zw, rc, it.Index, "image.dcm", "DICOM/"+fileID, sizing, func(c Content, size int64) error {
			var err error
			hdr, err = dicomdir.ReadFile(c, size)
			return err
		})
		switch {
		case errors.Is(err, ErrNotFound), errors.Is(err, errSkip):
			continue
		case err != nil:
			return fmt.Errorf("image.dcm: %w", err)
		}
		hdr.ID = []string{"DICOM", fileID}
		dir = append(dir, hdr)
	}
	if set == zipPictures {
		return zw.Close()
	}
	if len(dir) > 0 {
		var buf bytes.Buffer
		if err := dicomdir.Write(&buf, "SONOLINK", dir); err != nil {
			return fmt.Errorf("dicomdir: %w", err)
		}
		fw, err := zw.CreateHeader(&zip.FileHeader{Name: "DICOMDIR", Method: zip.Deflate, Modified: s.cfg.Now()})
		if err == nil {
			_, err = fw.Write(buf.Bytes())
		}
		if err != nil {
			return fmt.Errorf("dicomdir: %w", err)
		}
	}
	readme := rc.loc.T("zip.readme", "clinic", rc.clinic.Name, "date", rc.loc.Date(rc.link.ExamDate))
	readme = strings.ReplaceAll(readme, "\n", "\r\n") + "\r\n"
	fw, err := zw.CreateHeader(&zip.FileHeader{Name: "README.txt", Method: zip.Deflate, Modified: s.cfg.Now()})
	if err == nil {
		_, err = io.WriteString(fw, readme)
	}
	if err != nil {
		return fmt.Errorf("readme: %w", err)
	}
	return zw.Close()
}

// zipReport adds the text form of a structured report. A report that
// cannot be read is left out (its DICOM object still goes in); the log
// says why.
func (s *server) zipReport(ctx context.Context, zw *zip.Writer, rc *reqCtx, it *Item) error {
	rep, err := s.b.Report(ctx, rc.link.ID, it.Index)
	if err != nil {
		s.cfg.Logger.Warn("web: report left out of the ZIP", logid.Study(rc.link.StudyUID), "link", rc.link.ID, "item", it.Index, "err", err)
		return nil
	}
	fw, err := zw.CreateHeader(&zip.FileHeader{Name: fmt.Sprintf("reports/%02d-report.txt", it.Index), Method: zip.Deflate, Modified: s.cfg.Now()})
	if err != nil {
		return err
	}
	_, err = io.WriteString(fw, reportText(rep, rc.loc))
	return err
}

// errSkip marks a DICOM object left out of the ZIP (unreadable header):
// the images are still there, and the log says why.
var errSkip = errors.New("skipped")

// zipCopy adds one backend file to the ZIP, stored; prep may inspect the
// file first (from its start; it need not rewind). When sizing, the
// file's bytes are replaced by as many zeros.
func (s *server) zipCopy(ctx context.Context, zw *zip.Writer, rc *reqCtx, item int, src, dst string, sizing bool, prep func(c Content, size int64) error) error {
	f, mod, err := s.b.Open(ctx, rc.link.ID, item, src)
	if err != nil {
		return err
	}
	defer f.Close()
	size, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return err
	}
	if prep != nil {
		if _, err = f.Seek(0, io.SeekStart); err == nil {
			err = prep(f, size)
		}
		if err != nil {
			if !sizing {
				s.cfg.Logger.Warn("web: DICOM object left out of the ZIP", logid.Study(rc.link.StudyUID), "link", rc.link.ID, "item", item, "err", err)
			}
			return errSkip
		}
	}
	if mod.IsZero() {
		mod = s.cfg.Now()
	}
	fw, err := zw.CreateHeader(&zip.FileHeader{Name: dst, Method: zip.Store, Modified: mod.UTC()})
	if err != nil {
		return err
	}
	var from io.Reader = io.NewSectionReader(f, 0, size)
	if sizing {
		from = zeros{}
	}
	n, err := io.CopyN(fw, from, size)
	if err == nil && n != size {
		err = io.ErrUnexpectedEOF
	}
	return err
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}
