package web

import (
	"context"
	"errors"
	"testing"
)

func TestMemoOncePerRequest(t *testing.T) {
	calls := 0
	load := func() ([]int, error) { calls++; return []int{calls}, nil }

	// Outside a request: no caching.
	Memo(context.Background(), "k", load)
	Memo(context.Background(), "k", load)
	if calls != 2 {
		t.Fatalf("outside a request: %d loads, want 2", calls)
	}

	calls = 0
	req := context.WithValue(context.Background(), reqInfoKey{}, &reqInfo{})
	a, _ := Memo(req, "k", load)
	b, _ := Memo(req, "k", load)
	if calls != 1 || a[0] != 1 || b[0] != 1 {
		t.Fatalf("same request, same key: %d loads (%v, %v), want 1", calls, a, b)
	}
	if c, _ := Memo(req, "other", load); calls != 2 || c[0] != 2 {
		t.Fatalf("other key: %d loads, want 2", calls)
	}
	other := context.WithValue(context.Background(), reqInfoKey{}, &reqInfo{})
	if d, _ := Memo(other, "k", load); calls != 3 || d[0] != 3 {
		t.Fatalf("another request: %d loads, want 3", calls)
	}

	// Errors are remembered too: the request sees one answer.
	boom := errors.New("boom")
	fails := 0
	for i := 0; i < 2; i++ {
		if _, err := Memo(req, "bad", func() (int, error) { fails++; return 0, boom }); !errors.Is(err, boom) {
			t.Fatalf("err = %v", err)
		}
	}
	if fails != 1 {
		t.Fatalf("failing load ran %d times, want 1", fails)
	}
}
