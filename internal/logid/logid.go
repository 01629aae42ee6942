// Package logid names studies and objects in log lines.
//
// Every component logs a study as the attribute "study" and an object as
// "object", with the value this package derives from the UID, so one grep
// follows a study from "object stored" to "link issued" and "message
// delivered". A UID is never logged itself: some modalities build UIDs
// from the patient ID or the date of birth.
//
// The value is the first 12 hex digits of the SHA-256 of the UID: the same
// on every node and across restarts, short enough to read, and for objects
// a prefix of store.InstanceKey, so an object's log lines and its index
// entry share one name.
package logid

import (
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
)

// Attribute names.
const (
	StudyKey  = "study"
	ObjectKey = "object"
)

// ID is the log name of a UID.
func ID(uid string) string {
	h := sha256.Sum256([]byte(uid))
	return hex.EncodeToString(h[:6])
}

// Study is the log attribute of a study, by its Study Instance UID.
func Study(studyUID string) slog.Attr { return slog.String(StudyKey, ID(studyUID)) }

// Object is the log attribute of an object, by its SOP Instance UID.
func Object(sopUID string) slog.Attr { return slog.String(ObjectKey, ID(sopUID)) }
