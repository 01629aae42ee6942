package logid

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"
)

func TestIDIsAPrefixOfTheFullHash(t *testing.T) {
	uid := "1.2.826.0.1.3680043.8.498.1"
	h := sha256.Sum256([]byte(uid))
	full := hex.EncodeToString(h[:])
	if id := ID(uid); len(id) != 12 || !strings.HasPrefix(full, id) {
		t.Fatalf("ID(%q) = %q, want the first 12 hex digits of %s", uid, id, full)
	}
	if a := Study(uid); a.Key != "study" || a.Value.String() != ID(uid) || strings.Contains(a.Value.String(), uid) {
		t.Fatalf("Study attr = %v", a)
	}
	if a := Object(uid); a.Key != "object" || a.Value.String() != ID(uid) {
		t.Fatalf("Object attr = %v", a)
	}
}
