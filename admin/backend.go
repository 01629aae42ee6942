package admin

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"slices"
	"strings"

	"github.com/suyashkumar/dicom"
	"github.com/suyashkumar/dicom/pkg/tag"

	"sonolink/contact"
	"sonolink/dicom/dicomfile"
	"sonolink/dicom/uid"
	"sonolink/share"
	"sonolink/store"
)

// LocalOptions configures the store and share service that Open opens in
// the CLI's process. Share should carry the same base URL and delivery
// configuration as `sonolink serve` (NoWorker and Logger are set by Open).
type LocalOptions struct {
	Share       share.Options
	ContactTags []tag.Tag // nil: contact.DefaultTags
	// Configured says which of Share's base URL and providers were
	// configured rather than defaults; with what serve last ran with, it
	// decides what Send and Resend may deliver (offline.go).
	Configured Configured
}

// New returns a Service over a store and share service opened by the
// caller (sonolink serve); the share service's own worker delivers. Close
// does not close them.
func New(st *store.Store, sh *share.Service, contactTags []tag.Tag, logger *slog.Logger) *Service {
	if logger == nil {
		logger = slog.Default()
	}
	if len(contactTags) == 0 {
		contactTags = contact.DefaultTags
	}
	return &Service{be: &realBackend{shareSide: shareSide{sh: sh}, st: st, tags: contactTags, ckey: contactsKey(contactTags)}, log: logger.With("component", "admin")}
}

// StoreContacts has the store keep, with each object it receives, the
// values of the contact tags (nil: contact.DefaultTags) that the studies
// list shows, so that listing a study does not read its files. serve sets
// it on the store's options with the tags it gives New.
func StoreContacts(o *store.Options, tags []tag.Tag) {
	if len(tags) == 0 {
		tags = contact.DefaultTags
	}
	o.Contacts = func(ds *dicom.Dataset) []string { return contact.FromDataset(ds, tags) }
	o.ContactsKey = contactsKey(tags)
}

// contactsKey names a list of contact tags in a few bytes (the store keeps
// it with each object's values: values read under other tags are not used).
func contactsKey(tags []tag.Tag) string {
	if len(tags) == 0 {
		tags = contact.DefaultTags
	}
	h := fnv.New32a()
	for _, t := range tags {
		fmt.Fprintf(h, "%04x%04x.", t.Group, t.Element)
	}
	return fmt.Sprintf("%08x", h.Sum32())
}

// Open opens the store and share service of dataDir in this process (the
// CLI, when no server runs) without an outbox worker. Close delivers the
// queued messages once, then closes both. It fails fast, with what to do,
// when another process holds the data directory.
func Open(ctx context.Context, dataDir string, opts LocalOptions, logger *slog.Logger) (*Service, error) {
	if logger == nil {
		logger = slog.Default()
	}
	so := store.Options{Logger: logger}
	StoreContacts(&so, opts.ContactTags)
	st, err := store.Open(dataDir, so)
	if err != nil {
		if errors.Is(err, store.ErrInUse) {
			return nil, &Error{Kind: KindInternal, Message: fmt.Sprintf("the data directory %s is in use by another sonolink process that does not answer on %s (still starting, or an older version); wait a moment and retry, or stop that process", dataDir, SocketPath(dataDir))}
		}
		return nil, err
	}
	plan := planOffline(dataDir, &opts)
	sho := opts.Share
	sho.NoWorker = true
	sho.Logger = logger
	sho.Protected = st.Residual
	sh, err := share.Open(dataDir, sho)
	if err != nil {
		st.Close()
		return nil, err
	}
	tags := opts.ContactTags
	if len(tags) == 0 {
		tags = contact.DefaultTags
	}
	return &Service{be: &realBackend{shareSide: shareSide{sh: sh}, st: st, tags: tags, ckey: contactsKey(tags), owned: true},
		log: logger.With("component", "admin"), local: true, offline: &plan}, nil
}

// realBackend binds the Service to the store and share packages.
type realBackend struct {
	shareSide
	st    *store.Store
	tags  []tag.Tag
	ckey  string // contactsKey(tags)
	owned bool   // opened by Open: deliver and close on close
}

// studies searches the index (name, patient ID, accession, date), with
// the studies in include matching whatever the text (found by contact).
func (b *realBackend) studies(ctx context.Context, q StudyQuery, include []string) ([]studyRec, error) {
	sq := store.Query{Text: q.Text, Include: include, From: q.From, To: q.To, Offset: q.Offset, Limit: q.Limit}
	if q.Sort == SortReceived {
		sq.Sort = store.SortReceived
	}
	sts, err := b.st.Studies(sq)
	if err != nil {
		return nil, err
	}
	out := make([]studyRec, 0, len(sts))
	for _, s := range sts {
		out = append(out, recFromStudy(&s))
	}
	return out, nil
}

// study resolves a short id, Study Instance UID or accession
// (errNotFound when none).
func (b *realBackend) study(ctx context.Context, key string) (studyRec, error) {
	s, err := b.st.Study(key)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return studyRec{}, errNotFound
	case errors.Is(err, store.ErrAmbiguous):
		return studyRec{}, errorf(KindInvalid, "%w", err)
	case err != nil:
		return studyRec{}, err
	}
	return recFromStudy(s), nil
}

func recFromStudy(s *store.Study) studyRec {
	r := studyRec{UID: s.StudyUID, ShortID: s.ShortID, Accession: s.Accession, PatientName: s.Patient.Name,
		PatientID: s.Patient.ID, Description: s.Description, Received: s.LastReceived, Instances: s.NumInstances}
	if len(s.Date) == 8 {
		r.Date = isoDate(s.Date)
	} else if !s.FirstReceived.IsZero() {
		r.Date = s.FirstReceived.Local().Format("2006-01-02")
	}
	if t := hourMinute(s.Time); len(t) == 5 {
		r.Time = t
	}
	return r
}

// isoDate writes a DICOM date (DA, YYYYMMDD) as YYYY-MM-DD; anything else
// as it is.
func isoDate(d string) string {
	if len(d) != 8 {
		return d
	}
	return d[:4] + "-" + d[4:6] + "-" + d[6:]
}

// hourMinute writes a DICOM time (TM) as HH:MM; a shorter one as it is.
func hourMinute(tm string) string {
	if t := strings.ReplaceAll(tm, ":", ""); len(t) >= 4 {
		return t[:2] + ":" + t[2:4]
	}
	return tm
}

// instances lists a study's objects in display order.
func (b *realBackend) instances(ctx context.Context, studyUID string) ([]Object, error) {
	insts, err := b.st.Instances(studyUID)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, nil
		}
		return nil, err
	}
	kinds := make([]string, len(insts))
	for i, in := range insts {
		if !in.Missing && !in.Conflict {
			kinds[i] = share.ItemKind(in.SOPClassUID, in.NumFrames)
		}
	}
	labels := share.LabelItems(kinds)
	choose, err := b.st.VersionChoicePending(studyUID)
	if err != nil {
		return nil, err
	}
	loc, err := b.locale()
	if err != nil {
		return nil, err
	}
	out := make([]Object, 0, len(insts))
	for i, in := range insts {
		o := Object{N: in.Position, Label: labels[i].In(loc), Group: labels[i].Group(), Number: labels[i].N, SOPInstance: in.SOPInstanceUID, SeriesUID: in.SeriesUID,
			Kind: objectKind(in.SOPClassUID, in.NumFrames), Frames: in.NumFrames, Deid: "pending"}
		if in.Deid != nil {
			if in.Deid.Clean {
				o.Deid = "clean"
			} else {
				o.Deid = "residual"
				o.Reasons = in.Deid.Reasons
			}
		}
		if in.Missing {
			o.Deid = "missing"
			o.Reasons = []string{reasonMissing}
		}
		o.Why = deidReasons(o.Reasons)
		var err error
		if o.Versions, o.VersionsAlike, err = b.versions(&in); err != nil {
			return nil, err
		}
		if len(o.Versions) > 0 && slices.Contains(choose, in.SOPInstanceUID) {
			o.ChooseVersion = true
		}
		out = append(out, o)
	}
	return out, nil
}

// objectKind names what a technician sees: image, cine, SR, PDF or other.
func objectKind(sopClass string, frames int) string {
	switch {
	case strings.HasPrefix(sopClass, "1.2.840.10008.5.1.4.1.1.88."):
		return "SR"
	case sopClass == uid.EncapsulatedPDF:
		return "PDF"
	case frames > 1:
		return "cine"
	case frames == 1:
		return "image"
	}
	return "other"
}

// dicomContacts reads the contact tags of the study's first objects
// (only those are looked up, not the study's every object: the studies
// list asks this of each unshared study of its page).
func (b *realBackend) dicomContacts(ctx context.Context, studyUID string) ([]ContactNote, error) {
	insts, err := b.st.StudyHeads(studyUID, 3)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, nil
		}
		return nil, err
	}
	var values []string
	for i := range insts {
		in := &insts[i]
		var found []string
		if in.ContactsKey == b.ckey {
			// Kept at ingest under these tags. A file gone (Missing) was
			// unreadable, so it gave none.
			if in.Missing {
				continue
			}
			found = in.Contacts
		} else {
			ds, err := dicomfile.ReadHeader(b.st.ObjectPath(in))
			if err != nil {
				continue
			}
			found = contact.FromDataset(ds, b.tags)
		}
		for _, v := range found {
			if !contains(values, v) {
				values = append(values, v)
			}
		}
	}
	if len(values) == 0 {
		return nil, nil
	}
	region, err := b.region()
	if err != nil {
		return nil, err
	}
	return contactNotes(contact.ParseAll(values, region)), nil
}

func contains(l []string, v string) bool {
	for _, x := range l {
		if x == v {
			return true
		}
	}
	return false
}

// deliverPending hands every queued message to its provider once (only
// when the service runs in the CLI's process).
func (b *realBackend) deliverPending(ctx context.Context) error {
	if !b.owned {
		return nil // the server's worker delivers
	}
	return b.sh.Flush(ctx)
}

func (b *realBackend) close() error {
	if !b.owned {
		return nil
	}
	err := b.sh.Close()
	if e := b.st.Close(); err == nil {
		err = e
	}
	return err
}
