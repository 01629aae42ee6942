package admin

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/suyashkumar/dicom"
	"github.com/suyashkumar/dicom/pkg/tag"

	"sonolink/contact"
	"sonolink/dicom/dicomfile"
	"sonolink/store"
)

// SetReprocess gives a Service running beside the pipeline (sonolink
// serve) the function that queues an instance for de-identification and
// rendering, called when a technician changes which version is in use. A
// Service in the CLI's process has none: the pipeline picks the instance up
// when sonolink serve starts.
func (s *Service) SetReprocess(fn func(sopUID string)) { s.reprocess = fn }

// UseVersion chooses which of the objects received under one SOP Instance
// UID a study's object serves: views, links and downloads show the chosen
// one once its de-identified copy is made again. The first received stays
// in use until a technician chooses.
func (s *Service) UseVersion(ctx context.Context, req VersionRequest) (*Object, error) {
	r, err := s.resolve(ctx, req.Study)
	if err != nil {
		return nil, err
	}
	obj, err := s.object(ctx, r, req.Object)
	if err != nil {
		return nil, err
	}
	if len(obj.Versions) == 0 {
		return nil, errorf(KindInvalid, "object %d of study %s has one version only; nothing to choose", req.Object, displayKey(r))
	}
	if req.Version < 1 || req.Version > len(obj.Versions) {
		return nil, errorf(KindInvalid, "object %d of study %s has versions 1 to %d, not %d", req.Object, displayKey(r), len(obj.Versions), req.Version)
	}
	v := obj.Versions[req.Version-1]
	detail := fmt.Sprintf("object %d: version %d of %d in use", obj.N, v.Version, len(obj.Versions))
	changed, err := s.be.useVersion(ctx, r.UID, obj.SOPInstance, v.SHA256, actorOr(req.Actor), detail, obj.ChooseVersion)
	switch {
	case errors.Is(err, store.ErrOtherStudy):
		return nil, errorf(KindInvalid, "version %d of object %d names another study; it cannot be used in study %s", v.Version, obj.N, displayKey(r))
	case err != nil:
		return nil, s.internal("choose version", err)
	}
	if changed && s.reprocess != nil {
		s.reprocess(obj.SOPInstance)
	}
	return s.object(ctx, r, req.Object)
}

// object returns object n of a study.
func (s *Service) object(ctx context.Context, r studyRec, n int) (*Object, error) {
	objs, err := s.be.instances(ctx, r.UID)
	if err != nil {
		return nil, s.internal("list objects", err)
	}
	for i := range objs {
		if objs[i].N == n {
			return &objs[i], nil
		}
	}
	return nil, errorf(KindInvalid, "study %s has objects 1 to %d, not %d; see 'sonolink study %s'", displayKey(r), len(objs), n, displayKey(r))
}

// useVersion makes the version of sopUID with data set hash hash the one
// in use, audits it when that changed or answered an open choice (pending:
// keeping the version in use is a choice too), and reports whether
// anything changed.
func (b *realBackend) useVersion(ctx context.Context, studyUID, sopUID, hash, actor, detail string, pending bool) (bool, error) {
	_, changed, err := b.st.UseVersion(sopUID, hash)
	if err != nil || (!changed && !pending) {
		return changed, err
	}
	return changed, b.sh.RecordVersionChoice(studyUID, actor, detail)
}

// versions lists the objects kept under an instance's SOP Instance UID,
// when there is more than one, each with the facts that differ between
// them (versionFacts), and says whether none of those facts differ.
func (b *realBackend) versions(in *store.Instance) (out []ObjectVersion, alike bool, err error) {
	if in.Conflicts == 0 {
		return nil, false, nil
	}
	vs, err := b.st.Versions(in.SOPInstanceUID)
	if err != nil {
		return nil, false, err
	}
	facts := make([]map[string]string, len(vs))
	for i := range vs {
		facts[i] = b.versionFacts(&vs[i])
	}
	alike = true
	out = make([]ObjectVersion, 0, len(vs))
	for i, v := range vs {
		ov := ObjectVersion{Version: i + 1, InUse: !v.Conflict, ReceivedAt: v.ReceivedAt, CallingAET: v.Source.CallingAET,
			Frames: v.NumFrames, Size: v.Size, SHA256: v.Hash}
		for _, f := range VersionFields {
			val, known := facts[i][f]
			if known && factDiffers(facts, f) {
				ov.Differs = append(ov.Differs, VersionFact{Field: f, Value: val})
				alike = false
			}
		}
		out = append(out, ov)
	}
	return out, alike, nil
}

// factDiffers says whether field f has more than one value among the
// versions that tell it.
func factDiffers(facts []map[string]string, f string) bool {
	seen, first := false, ""
	for _, m := range facts {
		v, ok := m[f]
		switch {
		case !ok:
		case !seen:
			seen, first = true, v
		case v != first:
			return true
		}
	}
	return false
}

// versionFacts reads the VersionFields of one version: the numbers, the
// verdict and (when kept under the configured tags) the contacts from its
// store record, the rest from its file's header. What it cannot tell is
// left out: the header's facts when the file is gone or unreadable, the
// verdict when none was made (conflict versions have none).
func (b *realBackend) versionFacts(v *store.Instance) map[string]string {
	f := map[string]string{
		"frames":          strconv.Itoa(v.NumFrames),
		"series_number":   strconv.Itoa(v.SeriesNumber),
		"instance_number": strconv.Itoa(v.InstanceNumber),
	}
	if v.Deid != nil {
		f["deid"] = "residual"
		if v.Deid.Clean {
			f["deid"] = "clean"
		}
	}
	var ds *dicom.Dataset
	if !v.Missing {
		ds, _ = dicomfile.ReadHeader(b.st.ObjectPath(v)) // unreadable: its facts are unknown
	}
	if ds != nil {
		for field, t := range map[string]tag.Tag{"patient_name": tag.PatientName, "patient_id": tag.PatientID,
			"birth_date": tag.PatientBirthDate, "sex": tag.PatientSex, "study_date": tag.StudyDate,
			"study_time": tag.StudyTime, "accession": tag.AccessionNumber} {
			f[field] = dicomfile.String(ds, t)
		}
		f["birth_date"], f["study_date"], f["study_time"] = isoDate(f["birth_date"]), isoDate(f["study_date"]), hourMinute(f["study_time"])
	}
	switch {
	case v.ContactsKey == b.ckey && !v.Missing:
		f["contact"] = strings.Join(v.Contacts, ", ")
	case ds != nil:
		f["contact"] = strings.Join(contact.FromDataset(ds, b.tags), ", ")
	}
	return f
}
