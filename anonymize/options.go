package anonymize

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/suyashkumar/dicom/pkg/tag"
)

// Options choose the profile options a clinic applies on top of the Basic
// Application Level Confidentiality Profile.
type Options struct {
	// Secret keys the UID mapping and the date shift (LoadOrCreateSecret);
	// at least 16 bytes.
	Secret []byte
	// RetainFullDates keeps dates and times (Retain Longitudinal Temporal
	// Information with Full Dates Option).
	RetainFullDates bool
	// ShiftDates moves every date by a per-patient number of whole days
	// (Retain Longitudinal Temporal Information with Modified Dates Option).
	ShiftDates bool
	// RetainPatientCharacteristics keeps age, sex, size, weight and the like
	// (Retain Patient Characteristics Option).
	RetainPatientCharacteristics bool
	// SafePrivate lists private attributes to keep, each
	// "<private creator>:<gggg>xx<ee>" (hex), e.g. "PHILIPS US:200Dxx03".
	// Everything else private is removed.
	SafePrivate []string
}

// ParseOptions turns --option values into Options (Secret left empty):
//
//	retain-dates          keep dates and times (Full Dates option)
//	shift-dates           shift dates per patient (Modified Dates option)
//	retain-patient-chars  keep age, sex, size, weight… (Patient Characteristics option)
//	keep-private=C:GGGGxxEE[;C:GGGGxxEE…]  keep these private attributes
func ParseOptions(names []string) (Options, error) {
	var o Options
	for _, n := range names {
		n = strings.TrimSpace(n)
		k, v, hasV := strings.Cut(n, "=")
		switch {
		case k == "retain-dates" && !hasV:
			o.RetainFullDates = true
		case k == "shift-dates" && !hasV:
			o.ShiftDates = true
		case k == "retain-patient-chars" && !hasV:
			o.RetainPatientCharacteristics = true
		case k == "keep-private" && hasV:
			for _, s := range strings.Split(v, ";") {
				if s = strings.TrimSpace(s); s != "" {
					if _, err := parseSafePrivate(s); err != nil {
						return Options{}, err
					}
					o.SafePrivate = append(o.SafePrivate, s)
				}
			}
		default:
			return Options{}, fmt.Errorf("anonymize: unknown option %q (retain-dates, shift-dates, retain-patient-chars, keep-private=CREATOR:GGGGxxEE)", n)
		}
	}
	if o.RetainFullDates && o.ShiftDates {
		return Options{}, errors.New("anonymize: retain-dates and shift-dates exclude each other")
	}
	return o, nil
}

// safePrivate identifies one private attribute independently of the block
// its creator was given in a particular object.
type safePrivate struct {
	creator string
	group   uint16
	elem    uint8
}

func parseSafePrivate(s string) (safePrivate, error) {
	i := strings.LastIndex(s, ":")
	if i <= 0 {
		return safePrivate{}, fmt.Errorf("anonymize: keep-private %q: want CREATOR:GGGGxxEE", s)
	}
	creator, t := strings.TrimSpace(s[:i]), strings.ToLower(strings.TrimSpace(s[i+1:]))
	if len(t) != 8 || t[4:6] != "xx" {
		return safePrivate{}, fmt.Errorf("anonymize: keep-private %q: want CREATOR:GGGGxxEE", s)
	}
	g, err1 := strconv.ParseUint(t[:4], 16, 16)
	e, err2 := strconv.ParseUint(t[6:], 16, 8)
	if err1 != nil || err2 != nil || g&1 == 0 {
		return safePrivate{}, fmt.Errorf("anonymize: keep-private %q: not a private attribute", s)
	}
	return safePrivate{creator: creator, group: uint16(g), elem: uint8(e)}, nil
}

// Anonymizer de-identifies objects with one set of options. It is safe for
// concurrent use.
type Anonymizer struct {
	opts    Options
	secret  []byte
	safe    map[safePrivate]bool
	profile string
	// skip disables the rule for these tags (tests prove verification
	// catches a missed attribute).
	skip map[tag.Tag]bool
}

// New checks the options and returns an Anonymizer.
func New(opts Options) (*Anonymizer, error) {
	if len(opts.Secret) < 16 {
		return nil, errors.New("anonymize: secret shorter than 16 bytes")
	}
	if opts.RetainFullDates && opts.ShiftDates {
		return nil, errors.New("anonymize: RetainFullDates and ShiftDates exclude each other")
	}
	a := &Anonymizer{opts: opts, secret: append([]byte(nil), opts.Secret...), safe: map[safePrivate]bool{}}
	for _, s := range opts.SafePrivate {
		sp, err := parseSafePrivate(s)
		if err != nil {
			return nil, err
		}
		a.safe[sp] = true
	}
	a.profile = a.buildProfile()
	return a, nil
}

// engineVersion changes whenever the engine's output changes for the same
// table and options, so stored copies are recreated.
const engineVersion = "1"

func (a *Anonymizer) buildProfile() string {
	var opts []string
	if a.opts.RetainFullDates {
		opts = append(opts, "retain-dates")
	}
	if a.opts.ShiftDates {
		opts = append(opts, "shift-dates")
	}
	if a.opts.RetainPatientCharacteristics {
		opts = append(opts, "retain-patient-chars")
	}
	if len(a.opts.SafePrivate) > 0 {
		sp := append([]string(nil), a.opts.SafePrivate...)
		sort.Strings(sp)
		h := sha256.Sum256([]byte(strings.Join(sp, "\n")))
		opts = append(opts, fmt.Sprintf("keep-private#%x", h[:4]))
	}
	if len(opts) == 0 {
		opts = []string{"basic"}
	}
	th := sha256.Sum256(tableCSV)
	return fmt.Sprintf("sonolink-deid/%s ps315-e1-1/%s#%x %s key#%s", engineVersion, TableEdition, th[:4], strings.Join(opts, ","), a.fingerprint())
}

// Profile identifies the table edition, engine version, options and secret
// (by fingerprint) this Anonymizer applies. A stored copy made under another
// Profile is out of date and must be recreated.
func (a *Anonymizer) Profile() string { return a.profile }
