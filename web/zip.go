package web

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"sonolink/dicom/dicomdir"
	"sonolink/internal/logid"
)

// zipAll streams the ZIP of everything this session may see: the viewable
// images (JPEG, or animated GIF for a loop), PDF reports, structured
// reports as text, and the DICOM
// objects under DICOM/ with a DICOMDIR at the root. Once streaming has
// begun a failure aborts the connection, so a broken download never looks
// like a complete one.
func (s *server) zipAll(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
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
	name := "ultrasound.zip"
	if !rc.link.ExamDate.IsZero() {
		name = "ultrasound-" + rc.link.ExamDate.Format("2006-01-02") + ".zip"
	}
	h := w.Header()
	h.Set("Content-Type", "application/zip")
	h.Set("Content-Disposition", `attachment; filename="`+name+`"`)
	h.Set("Cache-Control", "private, no-store")

	zw := zip.NewWriter(w)
	abort := func(what string, err error) {
		s.cfg.Logger.Error("web: zip aborted", logid.Study(rc.link.StudyUID), "link", rc.link.ID, "step", what, "err", err)
		panic(http.ErrAbortHandler)
	}
	var dir []dicomdir.File
	for _, it := range items {
		if !rc.mayReveal(&it) {
			continue
		}
		var src, dst string
		switch it.Kind {
		case "report":
			if err := s.zipReport(ctx, zw, rc, &it); err != nil {
				abort("report.txt", err)
			}
		case "cine":
			src, dst = "loop.gif", fmt.Sprintf("images/%02d-loop.gif", it.Index)
		case "pdf":
			src, dst = "report.pdf", fmt.Sprintf("reports/%02d-report.pdf", it.Index)
		default:
			src, dst = "frame/0001.jpg", fmt.Sprintf("images/%02d-image.jpg", it.Index)
		}
		if src != "" {
			if err := s.zipCopy(ctx, zw, rc, it.Index, src, dst, zip.Store, nil); err != nil {
				abort(src, err)
			}
		}
		// The DICOM object, de-identified unless residual (then the
		// password has been given, or mayReveal would have said no).
		fileID := dicomdir.FileName(len(dir) + 1)
		var hdr dicomdir.File
		err := s.zipCopy(ctx, zw, rc, it.Index, "image.dcm", "DICOM/"+fileID, zip.Deflate, func(c Content) error {
			size, err := c.Seek(0, io.SeekEnd)
			if err != nil {
				return err
			}
			if hdr, err = dicomdir.ReadFile(c, size); err != nil {
				return err
			}
			_, err = c.Seek(0, io.SeekStart)
			return err
		})
		switch {
		case errors.Is(err, ErrNotFound), errors.Is(err, errSkip):
			continue
		case err != nil:
			abort("image.dcm", err)
		}
		hdr.ID = []string{"DICOM", fileID}
		dir = append(dir, hdr)
	}
	if len(dir) > 0 {
		var buf bytes.Buffer
		if err := dicomdir.Write(&buf, "SONOLINK", dir); err != nil {
			abort("dicomdir", err)
		}
		fw, err := zw.CreateHeader(&zip.FileHeader{Name: "DICOMDIR", Method: zip.Deflate, Modified: s.cfg.Now()})
		if err != nil {
			abort("dicomdir", err)
		}
		if _, err := fw.Write(buf.Bytes()); err != nil {
			abort("dicomdir", err)
		}
	}
	readme := rc.loc.T("zip.readme", "clinic", rc.clinic.Name, "date", rc.loc.Date(rc.link.ExamDate))
	readme = strings.ReplaceAll(readme, "\n", "\r\n") + "\r\n"
	fw, err := zw.CreateHeader(&zip.FileHeader{Name: "README.txt", Method: zip.Deflate, Modified: s.cfg.Now()})
	if err == nil {
		_, err = io.WriteString(fw, readme)
	}
	if err != nil {
		abort("readme", err)
	}
	if err := zw.Close(); err != nil {
		abort("close", err)
	}
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

// zipCopy adds one backend file to the ZIP; prep may inspect (and must
// rewind) the file first.
func (s *server) zipCopy(ctx context.Context, zw *zip.Writer, rc *reqCtx, item int, src, dst string, method uint16, prep func(Content) error) error {
	f, mod, err := s.b.Open(ctx, rc.link.ID, item, src)
	if err != nil {
		return err
	}
	defer f.Close()
	if prep != nil {
		if err := prep(f); err != nil {
			s.cfg.Logger.Warn("web: DICOM object left out of the ZIP", logid.Study(rc.link.StudyUID), "link", rc.link.ID, "item", item, "err", err)
			return errSkip
		}
	}
	if mod.IsZero() {
		mod = s.cfg.Now()
	}
	fw, err := zw.CreateHeader(&zip.FileHeader{Name: dst, Method: method, Modified: mod.UTC()})
	if err != nil {
		return err
	}
	_, err = io.Copy(fw, f)
	return err
}
