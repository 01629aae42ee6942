package admin

import "time"

// The structs below are both the wire format of the admin endpoint and the
// `--json` output of the CLI, so their field names are a public contract.

// StudyQuery selects studies for ListStudies.
type StudyQuery struct {
	Text  string    `json:"text,omitempty"`  // any part of patient name/ID, accession, contact, or a date
	From  time.Time `json:"from,omitzero"`   // study date on or after (inclusive)
	To    time.Time `json:"to,omitzero"`     // study date on or before (inclusive)
	Limit int       `json:"limit,omitempty"` // 0: the service default
	// Sort is "date" (or empty: newest study date first) or "received"
	// (latest arrival first).
	Sort   string `json:"sort,omitempty"`
	Offset int    `json:"offset,omitempty"` // matches skipped before the first returned (paging)
}

// Study orders (StudyQuery.Sort).
const (
	SortDate     = "date"
	SortReceived = "received"
)

// StudySummary is one line of `sonolink studies`.
type StudySummary struct {
	ShortID     string    `json:"short_id"`
	StudyUID    string    `json:"study_uid"`
	Accession   string    `json:"accession,omitempty"`
	Date        string    `json:"date,omitempty"` // YYYY-MM-DD (study date, else the day it arrived)
	Time        string    `json:"time,omitempty"` // HH:MM
	PatientName string    `json:"patient_name,omitempty"`
	PatientID   string    `json:"patient_id,omitempty"`
	Description string    `json:"description,omitempty"`
	Images      int       `json:"images"`               // objects stored for the study
	ReceivedAt  time.Time `json:"received_at,omitzero"` // last object's arrival
	ShareStatus string    `json:"share_status"`         // e.g. "sent 2026-11-20 14:03", "not shared", "no contact: invalid phone"
	// Share is ShareStatus in parts, for a caller that says it in its own
	// words (the staff console, in the clinic's language).
	Share ShareState `json:"share"`
	// RenewalAsked: the earliest open request of the study's patient for a
	// new link (from an expired link's page); the study needs attention.
	RenewalAsked time.Time `json:"renewal_asked,omitzero"`
	// Attention says why else the study needs the technician, e.g. its
	// exam was discontinued on the scanner (MPPS) and it was not shared.
	Attention string `json:"attention,omitempty"`
	// AttentionCode is Attention as a code (AttentionDiscontinued).
	AttentionCode string `json:"attention_code,omitempty"`
	// NoContact: auto-share found no usable contact for the study, and no
	// link was issued for it since (attention.go).
	NoContact bool `json:"no_contact,omitempty"`
	// DeliveryFailed: the latest message of the study's current link to
	// some contact failed for good.
	DeliveryFailed bool `json:"delivery_failed,omitempty"`
	// ChooseVersion: an object of the study was received in more than one
	// version, and no technician has chosen the one in use.
	ChooseVersion bool `json:"choose_version,omitempty"`
}

// ShareState is a study's share status in parts: what the study's most
// telling link says (ShareStatus is its English).
type ShareState struct {
	Kind string `json:"kind"` // one of the Share constants
	// At is when the link was last sent (else created); for ShareExpired,
	// when it expired (ShareStatus gives only its date).
	At time.Time `json:"at,omitzero"`
	// More counts the study's other active links.
	More int `json:"more,omitempty"`
	// Unusable is, for ShareNoContact, what was found and could not be
	// used, one entry for each way it reads.
	Unusable []Unusable `json:"unusable,omitempty"`
}

// ShareState kinds.
const (
	ShareNotShared      = "not_shared"       // no link; a usable contact, or none at all
	ShareNoContact      = "no_contact"       // no link, and every contact found is unusable
	ShareRevoked        = "revoked"          // the link was revoked
	ShareExpired        = "expired"          // the link expired
	ShareFailed         = "failed"           // delivery failed to every contact
	ShareQueued         = "queued"           // not delivered yet
	ShareOutbox         = "outbox"           // only written to the local outbox, not sent
	ShareSent           = "sent"             // sent
	ShareSentSomeFailed = "sent_some_failed" // sent, but delivery failed to some contacts
)

// Unusable is one way a study's contacts could not be used.
type Unusable struct {
	Kind string `json:"kind,omitempty"` // email or phone; "" when it is neither
	// Reason and Code say, for a value that is neither, why (English, and
	// the contact package's code).
	Reason string `json:"reason,omitempty"`
	Code   string `json:"code,omitempty"`
}

// AttentionDiscontinued is StudySummary.AttentionCode of a study held back
// because its exam was discontinued on the scanner (MPPS).
const AttentionDiscontinued = "discontinued"

// StudyDetail is `sonolink study`: the study, its numbered objects and its
// shares panel.
type StudyDetail struct {
	StudySummary
	Contacts []ContactNote `json:"contacts,omitempty"` // contacts read from DICOM, valid or not
	Notes    []string      `json:"notes,omitempty"`    // hints for the technician
	Objects  []Object      `json:"objects"`
	Shares   []Link        `json:"shares"`
}

// ContactNote is one contact value found for a study, and whether it can be
// used.
type ContactNote struct {
	Kind   string `json:"kind"` // "email", "phone" or "" when not recognised
	Value  string `json:"value"`
	Valid  bool   `json:"valid"`
	Reason string `json:"reason,omitempty"` // why it is not used
	Code   string `json:"code,omitempty"`   // and as the contact package's code
}

// Object is one stored object of a study, in the study's order.
type Object struct {
	N int `json:"n"` // its place in the study, from 1
	// Label is what the patient page calls it ("Image 2", "Video 1",
	// "Report 1"), in the clinic's language; `sonolink send --images`
	// takes it. Empty for an object the patient page does not show.
	Label       string   `json:"label,omitempty"`
	Group       string   `json:"group,omitempty"`  // image, cine or report: what Number counts
	Number      int      `json:"number,omitempty"` // the label's number
	SOPInstance string   `json:"sop_instance_uid"`
	SeriesUID   string   `json:"series_uid,omitempty"`
	Kind        string   `json:"kind"` // image, cine, SR, PDF, other
	Frames      int      `json:"frames,omitempty"`
	Deid        string   `json:"deid"` // "clean", "residual" or "pending"
	Reasons     []string `json:"reasons,omitempty"`
	// Why is Reasons in parts, one for each (deid.go).
	Why []DeidReason `json:"why,omitempty"`
	// Versions lists, when different objects arrived under this SOP
	// Instance UID, each of them in the order received; the one in use is
	// what views and links serve (`sonolink study --use-version`).
	Versions []ObjectVersion `json:"versions,omitempty"`
	// ChooseVersion: no technician has chosen among Versions yet (the
	// first received is in use meanwhile).
	ChooseVersion bool `json:"choose_version,omitempty"`
	// VersionsAlike: the Versions differ in none of the facts
	// ObjectVersion.Differs compares; what differs is the pixel data or
	// other attributes.
	VersionsAlike bool `json:"versions_alike,omitempty"`
}

// ObjectVersion is one of the objects received under one SOP Instance UID.
type ObjectVersion struct {
	Version    int       `json:"version"` // from 1, in the order received
	InUse      bool      `json:"in_use"`
	ReceivedAt time.Time `json:"received_at"`
	CallingAET string    `json:"calling_aet,omitempty"` // who sent it
	Frames     int       `json:"frames,omitempty"`
	Size       int64     `json:"size"`   // bytes
	SHA256     string    `json:"sha256"` // of its data set, hex
	// Differs lists, in VersionFields order, the facts a technician
	// recognises whose value is not the same in every version of the
	// object, with this version's value. A fact this version's record and
	// header do not tell (file unreadable; a de-identification verdict
	// not made) is left out, and compared among the versions that tell it.
	Differs []VersionFact `json:"differs,omitempty"`
}

// VersionFact is one fact of an object version (ObjectVersion.Differs).
type VersionFact struct {
	Field string `json:"field"` // one of VersionFields
	Value string `json:"value"` // as received ("": absent); patient_name in DICOM PN form, dates YYYY-MM-DD, time HH:MM
}

// VersionFields are the facts ObjectVersion.Differs compares, in the order
// shown: patient name (0010,0010), ID (0010,0020), birth date (0010,0030),
// sex (0010,0040), study date (0008,0020) and time (0008,0030), accession
// number (0008,0050), the contact tags' values, number of frames, series
// number (0020,0011), instance number (0020,0013) and the
// de-identification verdict ("clean" or "residual").
var VersionFields = []string{"patient_name", "patient_id", "birth_date", "sex", "study_date", "study_time",
	"accession", "contact", "frames", "series_number", "instance_number", "deid"}

// VersionRequest chooses which version of a study's object is in use.
type VersionRequest struct {
	Study   string `json:"study"`   // short id, Study Instance UID or accession
	Object  int    `json:"object"`  // the object's number in the study
	Version int    `json:"version"` // ObjectVersion.Version
	Actor   string `json:"actor,omitempty"`
}

// Link is one entry of a study's shares panel.
type Link struct {
	ID            string    `json:"id"`
	StudyUID      string    `json:"study_uid"`
	StudyID       string    `json:"study_id,omitempty"` // the study's short id
	Created       time.Time `json:"created"`
	LastSent      time.Time `json:"last_sent,omitzero"`
	Expires       time.Time `json:"expires"`
	Status        string    `json:"status"` // active, expired, revoked
	RevokedReason string    `json:"revoked_reason,omitempty"`
	RevokedAt     time.Time `json:"revoked_at,omitzero"`
	RevokedBy     string    `json:"revoked_by,omitempty"`
	// AlreadyRevoked: Revoke found the link revoked before (at RevokedAt)
	// and changed nothing.
	AlreadyRevoked bool       `json:"already_revoked,omitempty"`
	Origin         string     `json:"origin,omitempty"` // auto or cli
	WholeStudy     bool       `json:"whole_study"`
	Images         []int      `json:"images,omitempty"` // places in the study (Object.N) of the objects the link carries
	Labels         []string   `json:"labels,omitempty"` // their labels (Object.Label), as the patient page shows them
	Instances      []string   `json:"instances"`        // SOP Instance UIDs the link carries
	Contacts       []Delivery `json:"contacts"`         // one per contact, with its delivery status
	Views          int        `json:"views"`
	LinkCode       bool       `json:"link_code,omitempty"` // a patient link code is required
	// RenewalAsked: when the patient asked for a new link on this expired
	// link's page, while the request is open (a resend, a new link or a
	// revoke closes it).
	RenewalAsked time.Time `json:"renewal_asked,omitzero"`
	// Current: the study's current link, as share decides it (active
	// first, then the one sent last): its share status speaks of it.
	Current bool `json:"current,omitempty"`
}

// Delivery is the state of the link's message to one contact.
type Delivery struct {
	Channel string `json:"channel"` // email or sms
	To      string `json:"to"`
	// Status is queued, retrying, sending, sent, failed, cancelled, or
	// outbox: only written to the local outbox directory (no provider
	// configured), not sent to the patient.
	Status string `json:"status"`
	// Via is the provider that took a sent message (smtp, twilio, file…);
	// empty when not sent or not recorded.
	Via    string `json:"via,omitempty"`
	Reason string `json:"reason,omitempty"` // the provider's error, or why cancelled
	// ReasonCode is Reason when sonolink gave it (DeliveryResent,
	// DeliveryRevoked); "" for a provider's error.
	ReasonCode string    `json:"reason_code,omitempty"`
	At         time.Time `json:"at,omitzero"`
}

// SendRequest asks for a new link.
type SendRequest struct {
	Study  string `json:"study"`            // short id, Study Instance UID or accession
	To     string `json:"to"`               // "email, phone", parsed with the DICOM contact rules
	Images string `json:"images,omitempty"` // "image 1, image 3-5, video 1" (labels as in Objects); empty: the whole study
	// Objects selects by place in the study (Object.N) instead, for
	// callers that picked objects rather than typed labels (a console's
	// thumbnails). Images and Objects together are an error.
	Objects []int  `json:"objects,omitempty"`
	Actor   string `json:"actor,omitempty"` // who asked (audit)
	// Lang is the patient's language for the link's messages and page
	// (en, sv, es); empty: one typed in To, else the phone's country's,
	// else the clinic's.
	Lang string `json:"lang,omitempty"`
}

// LinkRequest names an existing link (resend, revoke).
type LinkRequest struct {
	Link   string `json:"link"`
	Reason string `json:"reason,omitempty"` // revoke only
	Actor  string `json:"actor,omitempty"`
}

// SendResult is what send and resend report.
type SendResult struct {
	Link
	// Queued is true when at least one message could not be handed to its
	// provider yet; it stays in the outbox and is delivered by `sonolink serve`.
	Queued bool `json:"queued"`
	// QueuedForServer: no server was running and the provider is known only
	// to `sonolink serve`, so the messages wait in the outbox for its next
	// start.
	QueuedForServer bool `json:"queued_for_server,omitempty"`
	// ThroughServer: the running `sonolink serve` did it (the CLI sets it).
	ThroughServer bool `json:"through_server"`
}

// Setting is one clinic setting.
type Setting struct {
	Key         string `json:"key"`
	Value       string `json:"value"`
	Default     string `json:"default,omitempty"`
	Description string `json:"description,omitempty"`
	// Family, Message and Fields: for a key of a family (branding.text.sms),
	// the family's key (branding.text.), the message and its template
	// fields, so a page can describe every member with one text.
	Family  string `json:"family,omitempty"`
	Message string `json:"message,omitempty"`
	Fields  string `json:"fields,omitempty"`
	// Note says what a change did beyond the value, e.g. how many active
	// links now ask for the link code. Only SetSetting fills it in; Reach
	// is the same in numbers, for a page to say in its own words.
	Note  string     `json:"note,omitempty"`
	Reach *CodeReach `json:"reach,omitempty"`
}

// SettingRequest changes one setting; an empty Value clears it (back to the default).
type SettingRequest struct {
	Key   string `json:"key"`
	Value string `json:"value"`
	Actor string `json:"actor,omitempty"`
}

// AuditQuery filters the audit log.
type AuditQuery struct {
	Study string    `json:"study,omitempty"` // short id, UID or accession
	Link  string    `json:"link,omitempty"`
	Since time.Time `json:"since,omitzero"`
	Limit int       `json:"limit,omitempty"`
}

// AuditEvent is one line of the audit log.
type AuditEvent struct {
	Time     time.Time `json:"time"`
	Event    string    `json:"event"`
	StudyUID string    `json:"study_uid,omitempty"`
	Link     string    `json:"link,omitempty"`
	Actor    string    `json:"actor,omitempty"`
	Detail   string    `json:"detail,omitempty"`
}
