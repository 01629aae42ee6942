package web

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/suyashkumar/dicom/pkg/tag"

	"sonolink/dicom/dicomfile"
	"sonolink/render"
	"sonolink/share"
	"sonolink/store"
)

// StoreBackend implements Backend over the real share service and store:
// links and gates from share, objects, verdicts and renders from store.
type StoreBackend struct {
	Share *share.Service
	Store *store.Store

	mu     sync.Mutex
	proofs map[string]proof     // link ID → proof of a verified one-time code
	facts  map[string]linkFacts // link ID → what Link needs from the store (factsTTL)
}

type proof struct {
	value string
	at    time.Time
}

// New returns the backend.
func NewStoreBackend(sh *share.Service, st *store.Store) *StoreBackend {
	return &StoreBackend{Share: sh, Store: st, proofs: map[string]proof{}}
}

var _ Backend = (*StoreBackend)(nil)

// Link resolves a token.
func (b *StoreBackend) Link(ctx context.Context, token string) (*Link, error) {
	l, err := b.Share.Resolve(token)
	if err != nil {
		var exp *share.ExpiredError
		var rev *share.RevokedError
		if errors.As(err, &exp) {
			out := &ExpiredError{At: exp.Expired, LinkID: exp.LinkID}
			if l, err := b.Share.Link(exp.LinkID); err == nil {
				out.Lang = l.Lang
			}
			return nil, out
		}
		if errors.As(err, &rev) {
			return nil, &RevokedError{At: rev.Revoked}
		}
		if errors.Is(err, share.ErrNotFound) {
			return nil, fmt.Errorf("%w: %w", ErrNotFound, err)
		}
		return nil, err
	}
	facts, err := b.linkFacts(ctx, l)
	if err != nil {
		return nil, err
	}
	residual := facts.residual
	needsCode, err := b.Share.NeedsLinkCode(l)
	if err != nil {
		return nil, err
	}
	out := &Link{
		ID:            l.ID,
		StudyUID:      l.StudyUID,
		Expires:       l.Expires,
		NeedsLinkCode: needsCode,
		HasPassword:   l.PasswordSet,
		Lang:          l.Lang,
	}
	out.ExamDate = facts.exam
	// Any residual object the link carries puts the study behind the
	// patient password, whether or not the page can show it (structured
	// reports and PDFs always are residual).
	out.NeedsPassword = residual
	if out.NeedsPassword {
		cs, err := b.Share.OTPContacts(l.ID)
		if err != nil {
			return nil, err
		}
		out.Contacts = masked(cs)
	}
	return out, nil
}

// linkFacts are what every request of a link needs from the store
// (whether any of its objects is residual, the exam date). Reading them
// decodes every object record of the study, most of a returning visit's
// work, so they are kept while the index is unchanged (Store.Generation).
type linkFacts struct {
	residual bool
	exam     time.Time
	gen      uint64
}

func (b *StoreBackend) linkFacts(ctx context.Context, l *share.Link) (linkFacts, error) {
	gen := b.Store.Generation()
	b.mu.Lock()
	f, ok := b.facts[l.ID]
	b.mu.Unlock()
	if ok && f.gen == gen {
		return f, nil
	}
	_, residual, err := b.items(ctx, l)
	if err != nil {
		return linkFacts{}, err
	}
	f = linkFacts{residual: residual, gen: gen}
	if st, err := b.Store.Study(l.StudyUID); err == nil {
		if d, err := time.Parse("20060102", st.Date); err == nil {
			f.exam = d
		}
	}
	b.mu.Lock()
	if b.facts == nil || len(b.facts) >= 4096 {
		b.facts = map[string]linkFacts{}
	}
	b.facts[l.ID] = f
	b.mu.Unlock()
	return f, nil
}

// Generation changes whenever what the pages show may have: the stored
// objects (the index) or the clinic's settings.
func (b *StoreBackend) Generation(ctx context.Context) string {
	return strconv.FormatUint(b.Store.Generation(), 10) + "." + strconv.FormatUint(b.Share.SettingsGeneration(), 10)
}

// Clinic returns the clinic's name, contact details, language and logo.
func (b *StoreBackend) Clinic(ctx context.Context) (Clinic, error) {
	s, err := b.Share.Settings()
	if err != nil {
		return Clinic{}, err
	}
	return Clinic{Name: s.ClinicName, Phone: s.ClinicPhone, Web: s.ClinicWeb, Hours: s.ClinicHours,
		Language: s.Language, Location: s.Zone(nil), Logo: s.Logo, LogoType: s.LogoType}, nil
}

// item is a shared object in display order.
type item struct {
	inst     store.Instance
	kind     string
	residual bool
	label    share.ItemLabel // its name in the whole study
}

// items lists the objects a link shows: viewable images, cine loops, PDF
// reports and structured reports.
// residual reports whether any object the link carries, viewable or not, was
// found not de-identified; an object still being de-identified counts as
// neither (it is not ready, so nothing of it is shown until its verdict is
// known).
func (b *StoreBackend) items(ctx context.Context, l *share.Link) (out []item, residual bool, err error) {
	// One read per request: Link needs the verdicts, then Items or Open the
	// same records (decoding them is most of a page view's work).
	insts, err := Memo(ctx, "instances\x00"+l.StudyUID, func() ([]store.Instance, error) {
		return b.Store.Instances(l.StudyUID)
	})
	if err != nil {
		return nil, false, err
	}
	// Labels count over the whole study, so "Image 5" is the same object
	// on every link and in `sonolink study`.
	kinds := make([]string, len(insts))
	for i, in := range insts {
		if !in.Missing && !in.Conflict {
			kinds[i] = share.ItemKind(in.SOPClassUID, in.NumFrames)
		}
	}
	labels := share.LabelItems(kinds)
	for i, in := range insts {
		if in.Missing || in.Conflict || !l.Shows(in.SOPInstanceUID) {
			continue
		}
		it := item{inst: in, residual: in.Deid != nil && !in.Deid.Clean, label: labels[i]}
		if it.residual {
			residual = true
		}
		if it.kind = kinds[i]; it.kind == "" {
			continue
		}
		out = append(out, it)
	}
	return out, residual, nil
}

// Items lists the link's objects for the page (1-based indexes).
func (b *StoreBackend) Items(ctx context.Context, linkID string) ([]Item, error) {
	l, err := b.Share.Link(linkID)
	if err != nil {
		return nil, err
	}
	its, _, err := b.items(ctx, l)
	if err != nil {
		return nil, err
	}
	out := make([]Item, 0, len(its))
	for i, it := range its {
		w := Item{Index: i + 1, Kind: it.kind, Residual: it.residual, Frames: it.inst.NumFrames, Width: it.inst.Columns, Height: it.inst.Rows, Label: it.label}
		// Nothing of an object is shown before its verdict is known.
		if r := it.inst.Render; r != nil && it.inst.Deid != nil {
			w.Ready = true
			w.Frames, w.FrameTimeMS, w.Width, w.Height = r.Frames, r.FrameTimeMS, r.Width, r.Height
			w.Video = it.kind == "cine" && r.Video != ""
			w.VideoOnly = w.Video && r.Animation == ""
		}
		if it.kind == "pdf" || it.kind == "report" {
			// Documents have no renders: ready once the verdict is known.
			w.Ready = it.inst.Deid != nil
		}
		out = append(out, w)
	}
	return out, nil
}

// Open opens one file of item n of the link.
func (b *StoreBackend) Open(ctx context.Context, linkID string, n int, file string) (Content, time.Time, error) {
	l, err := b.Share.Link(linkID)
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("%w: %w", ErrNotFound, err)
	}
	its, _, err := b.items(ctx, l)
	if err != nil {
		return nil, time.Time{}, err
	}
	if n < 1 || n > len(its) {
		return nil, time.Time{}, ErrNotFound
	}
	in := its[n-1].inst
	sop := in.SOPInstanceUID
	r := in.Render
	var path string
	switch {
	case file == "thumb.jpg" && r != nil && r.Thumbnail != "":
		path = b.Store.DerivedPath(sop, r.Thumbnail)
	case file == "loop.gif" && r != nil && r.Animation != "":
		path = b.Store.DerivedPath(sop, r.Animation)
	case file == "loop.mp4" && r != nil && r.Video != "":
		path = b.Store.DerivedPath(sop, r.Video)
	case strings.HasPrefix(file, "frame/") && strings.HasSuffix(file, ".jpg") && r != nil && r.FramePattern != "":
		k, err := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(file, "frame/"), ".jpg"))
		if err != nil || k < 1 || k > r.Frames {
			return nil, time.Time{}, ErrNotFound
		}
		path = b.Store.DerivedPath(sop, fmt.Sprintf(r.FramePattern, k-1))
	case file == "image.dcm":
		path = b.dicomPath(&in)
	case file == "report.pdf" && its[n-1].kind == "pdf":
		return b.pdf(b.Store.ObjectPath(&in))
	default:
		return nil, time.Time{}, ErrNotFound
	}
	f, err := os.Open(path)
	if err != nil {
		if os.IsNotExist(err) {
			return nil, time.Time{}, fmt.Errorf("%w: %w", ErrNotFound, err)
		}
		return nil, time.Time{}, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, time.Time{}, err
	}
	return f, st.ModTime(), nil
}

// Report reads the structured report of item n from the object as
// received. Reports are always residual, so they are only reachable behind
// the password the patient set after proving a contact of the link; the
// de-identified copy would show the patient "ANONYMIZED" where the findings
// were typed.
func (b *StoreBackend) Report(ctx context.Context, linkID string, n int) (*render.Report, error) {
	l, err := b.Share.Link(linkID)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNotFound, err)
	}
	its, _, err := b.items(ctx, l)
	if err != nil {
		return nil, err
	}
	if n < 1 || n > len(its) || its[n-1].kind != "report" {
		return nil, ErrNotFound
	}
	in := its[n-1].inst
	ds, err := dicomfile.ReadHeader(b.Store.ObjectPath(&in))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%w: %w", ErrNotFound, err)
		}
		return nil, err
	}
	rep, err := render.SR(ds)
	if render.IsUnsupported(err) {
		return nil, fmt.Errorf("%w: %w", ErrNotFound, err)
	}
	return rep, err
}

// dicomPath is the de-identified copy when there is one, else the received
// object (residual items are only reachable behind the patient password).
// It is what goes into "Download all" as DICOM, so the set and its DICOMDIR
// stay one de-identified study; the readable forms of reports (the page,
// report.txt, report.pdf) come from the received object instead: their
// de-identified copies have the findings and the document removed.
func (b *StoreBackend) dicomPath(in *store.Instance) string {
	if in.Deid != nil && in.Deid.Path != "" {
		return b.Store.DerivedPath(in.SOPInstanceUID, in.Deid.Path)
	}
	return b.Store.ObjectPath(in)
}

// pdf extracts the Encapsulated Document (0042,0011) of a PDF object.
func (b *StoreBackend) pdf(path string) (Content, time.Time, error) {
	ds, err := dicomfile.ReadFile(path)
	if err != nil {
		return nil, time.Time{}, err
	}
	e, err := ds.FindElementByTag(tag.Tag{Group: 0x0042, Element: 0x0011})
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("%w: %w", ErrNotFound, err)
	}
	data, ok := e.Value.GetValue().([]byte)
	if !ok {
		return nil, time.Time{}, ErrNotFound
	}
	// The value is padded to even length; a PDF ends at its last %%EOF.
	if i := bytes.LastIndex(data, []byte("%%EOF")); i >= 0 {
		data = data[:i+5]
	}
	return readerAtCloser{bytes.NewReader(data)}, time.Time{}, nil
}

type readerAtCloser struct{ *bytes.Reader }

func (readerAtCloser) Close() error { return nil }

var _ io.ReaderAt = readerAtCloser{}

// CheckLinkCode checks the clinic link code.
func (b *StoreBackend) CheckLinkCode(ctx context.Context, linkID, client, code string) error {
	return gateErr(b.Share.CheckLinkCode(linkID, client, code))
}

// CodeMessages says how many more one-time codes the client may ask for.
func (b *StoreBackend) CodeMessages(ctx context.Context, linkID, client string) (int, time.Time, error) {
	return b.Share.CodeMessages(linkID, client)
}

// RequestOTP sends a one-time code to the link's contact number i (in the
// order of Link.Contacts).
func (b *StoreBackend) RequestOTP(ctx context.Context, linkID, client string, i int, lang string) error {
	cs, err := b.Share.OTPContacts(linkID)
	if err != nil {
		return err
	}
	if i < 0 || i >= len(cs) {
		return ErrWrongCode
	}
	return gateErr(b.Share.RequestOTP(ctx, linkID, client, cs[i].Ref, lang))
}

// VerifyOTP checks a one-time code and remembers the proof for SetPassword.
func (b *StoreBackend) VerifyOTP(ctx context.Context, linkID, client, code string) error {
	p, err := b.Share.VerifyOTP(linkID, client, code)
	if err != nil {
		return gateErr(err)
	}
	b.mu.Lock()
	b.proofs[linkID] = proof{value: p, at: time.Now()}
	for id, pr := range b.proofs {
		if time.Since(pr.at) > 30*time.Minute {
			delete(b.proofs, id)
		}
	}
	b.mu.Unlock()
	return nil
}

// SetPassword sets the patient password after a verified one-time code.
func (b *StoreBackend) SetPassword(ctx context.Context, linkID, password string) error {
	b.mu.Lock()
	p, ok := b.proofs[linkID]
	delete(b.proofs, linkID)
	b.mu.Unlock()
	if !ok {
		return share.ErrBadProof
	}
	return gateErr(b.Share.SetPassword(linkID, p.value, password))
}

// CheckPassword checks the patient password.
func (b *StoreBackend) CheckPassword(ctx context.Context, linkID, client, password string) error {
	return gateErr(b.Share.CheckPassword(linkID, client, password))
}

// RecordView records a landing-page visit (views count and audit log).
func (b *StoreBackend) RecordView(ctx context.Context, linkID, remoteAddr, userAgent string) {
	_ = b.Share.RecordView(linkID, remoteAddr, userAgent)
}

// gateErr maps share's gate errors onto the pages' vocabulary.
// RequestRenewal records the patient's request for a new link.
func (b *StoreBackend) RequestRenewal(ctx context.Context, linkID, client string) error {
	_, err := b.Share.RequestRenewal(linkID, client)
	var we *share.WaitError
	if errors.As(err, &we) {
		return &WaitError{Until: we.Until}
	}
	return err
}

// SelfRenewContacts lists the expired link's contacts a new link can go
// to, masked; none while link.self_renew is off.
func (b *StoreBackend) SelfRenewContacts(ctx context.Context, linkID string) ([]MaskedContact, error) {
	cs, err := b.Share.SelfRenewContacts(linkID)
	if errors.Is(err, share.ErrSelfRenewOff) || errors.Is(err, share.ErrNotExpired) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return masked(cs), nil
}

// RequestRenewalCode sends a one-time code for a new link to the expired
// link's contact number i (in the order of SelfRenewContacts).
func (b *StoreBackend) RequestRenewalCode(ctx context.Context, linkID, client string, i int, lang string) error {
	cs, err := b.Share.SelfRenewContacts(linkID)
	if err != nil {
		return err
	}
	if i < 0 || i >= len(cs) {
		return ErrWrongCode
	}
	return gateErr(b.Share.RequestRenewalCode(ctx, linkID, client, cs[i].Ref, lang))
}

// SelfRenew checks the code and has a new link sent to the same contacts.
func (b *StoreBackend) SelfRenew(ctx context.Context, linkID, client, code string) error {
	_, err := b.Share.SelfRenew(ctx, linkID, client, code)
	return gateErr(err)
}

func masked(cs []share.OTPContact) []MaskedContact {
	var out []MaskedContact
	for _, c := range cs {
		kind := "sms"
		if c.Channel == share.ChannelEmail {
			kind = "email"
		}
		out = append(out, MaskedContact{Kind: kind, Label: c.Masked})
	}
	return out
}

func gateErr(err error) error {
	var wait *share.WaitError
	var limit *share.CodeLimitError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &wait):
		return &WaitError{Until: wait.Until, Wrong: wait.Cause != nil}
	case errors.As(err, &limit):
		return &CodeLimitError{Until: limit.Until}
	case errors.Is(err, share.ErrWrongLinkCode), errors.Is(err, share.ErrWrongPassword),
		errors.Is(err, share.ErrWrongOTP), errors.Is(err, share.ErrNoPassword):
		return ErrWrongCode
	}
	return err
}
