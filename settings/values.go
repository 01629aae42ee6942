package settings

import (
	"strings"
	"time"
)

// Values are the clinic's settings, typed. Decode fills them from what is
// stored; a key that is not stored has its default.
type Values struct {
	ClinicName  string
	Language    string // message language, one of Config.Languages
	ClinicPhone string // contact details for patients; "" if not given
	ClinicWeb   string // an http(s) URL
	ClinicHours string // free text
	Region      string // ISO 3166 alpha-2 for national phone numbers, e.g. "SE"; "" if none
	TimeZone    string // IANA name as set (clinic.timezone); "" if not set
	// Location is TimeZone loaded; nil when not set: use Zone.
	Location     *time.Location
	LinkLifetime time.Duration // how long a link works after it is sent
	LinkCodeSet  bool          // a clinic patient link code is in force
	LinkCodeHash string        // its hash (Config.HashLinkCode); never shown
	// LinkCodeAll: every active link asks for the link code, not only
	// those issued while a code was set (link.code_scope all).
	LinkCodeAll bool
	// LinkReminder is how long before expiry a link's reminder goes out;
	// 0: none (link.reminder off).
	LinkReminder time.Duration
	// LinkSelfRenew: the expired page offers a new link to the same
	// contacts after a one-time code (link.self_renew on).
	LinkSelfRenew bool
	Logo          []byte // branding logo, nil if none
	LogoType      string // its content type (image/png, image/jpeg, image/gif, image/webp)
	Texts         map[string]string
	AutoShare     AutoShareRule
	StableTime    time.Duration // quiet time after which a study is complete
	DeidOptions   []string      // anonymize option names, as the clinic gave them
	// OutboxRetention is how long delivered messages' files stay in the
	// outbox directory.
	OutboxRetention time.Duration
	// RetainAfterLink is how long a study is kept after its last link
	// ended; RetainUnshared how long one never shared is kept after its
	// last object arrived. 0: kept (off).
	RetainAfterLink time.Duration
	RetainUnshared  time.Duration
	// FreeFloor: below this much free space the oldest studies that may
	// go are purged first. StorageReserve: below this, new objects are
	// refused.
	FreeFloor      Space
	StorageReserve Space
}

// AutoShareRule says which complete studies get a link automatically.
type AutoShareRule struct {
	Mode string // "all" (every study with a contact), "aet" (only studies sent to AET) or "off"
	AET  string
}

// String is the rule as the setting spells it: all, off or aet:<AE>.
func (r AutoShareRule) String() string {
	if r.Mode == "aet" {
		return "aet:" + r.AET
	}
	return r.Mode
}

// Matches reports whether a study sent to the given called AE titles is
// shared automatically.
func (r AutoShareRule) Matches(calledAETs []string) bool {
	switch r.Mode {
	case "all":
		return true
	case "aet":
		for _, a := range calledAETs {
			if strings.EqualFold(strings.TrimSpace(a), r.AET) {
				return true
			}
		}
	}
	return false
}

// Zone is the clinic's time zone: clinic.timezone when set, else server,
// the zone the server runs in.
func (v Values) Zone(server *time.Location) *time.Location {
	if v.Location != nil {
		return v.Location
	}
	if server == nil {
		return time.Local
	}
	return server
}
