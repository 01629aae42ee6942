package admin

import (
	"encoding/json"
	"errors"
	"syscall"
	"testing"
)

// An operation's error keeps its cause for errors.Is in this process, and
// only the kind and the message go over the socket.
func TestErrorKeepsCause(t *testing.T) {
	err := errorf(KindInternal, "%s failed: %w", "list studies", syscall.ENOSPC)
	if !errors.Is(err, syscall.ENOSPC) || KindOf(err) != KindInternal {
		t.Fatalf("errorf(%%w) lost its cause or kind: %v", err)
	}
	if err := causef(KindInvalid, syscall.EINVAL, "limit %q is not a number", "x"); !errors.Is(err, syscall.EINVAL) {
		t.Fatalf("causef lost its cause: %v", err)
	}
	if e := errorf(KindInvalid, "no cause").(*Error); e.Unwrap() != nil {
		t.Fatalf("errorf without %%w has cause %v", e.Unwrap())
	}
	b, _ := json.Marshal(err)
	var wire map[string]any
	if json.Unmarshal(b, &wire); len(wire) != 2 || wire["kind"] != "internal" {
		t.Fatalf("wire form %s, want kind and message only", b)
	}
}
