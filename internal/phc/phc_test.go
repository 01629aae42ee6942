package phc

import (
	"strings"
	"testing"
)

func TestHashVerify(t *testing.T) {
	p := Params{Time: 1, Memory: 1024, Threads: 1}
	h := Hash("correct horse", p)
	if !strings.HasPrefix(h, "$argon2id$v=19$m=1024,t=1,p=1$") {
		t.Fatalf("PHC string %q", h)
	}
	if !Verify(h, "correct horse") || Verify(h, "correct horsE") {
		t.Error("Verify does not tell the secret from another")
	}
	if Hash("correct horse", p) == h {
		t.Error("two hashes of one secret are equal: no fresh salt")
	}
	for _, bad := range []string{"", "$argon2i$v=19$m=1024,t=1,p=1$c2FsdA$aGFzaA", strings.Replace(h, "m=1024", "m=2000000", 1), strings.Replace(h, "t=1", "t=99", 1)} {
		if Verify(bad, "correct horse") {
			t.Errorf("malformed or too costly %q verified", bad)
		}
	}
}
