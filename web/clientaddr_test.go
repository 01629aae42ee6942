package web

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"
	"time"

	"golang.org/x/time/rate"
)

func TestClientAddrBehindProxy(t *testing.T) {
	trusted, err := ParseTrustedProxies([]string{"10.0.0.0/8", "2001:db8:ff::1"})
	if err != nil {
		t.Fatal(err)
	}
	addr := clientAddr(trusted)
	for _, tc := range []struct {
		name, peer, xff, fwd, want string
	}{
		{"untrusted peer, forged header", "203.0.113.9:5000", "198.51.100.1", "", "203.0.113.9"},
		{"untrusted peer, forged Forwarded", "203.0.113.9:5000", "", "for=198.51.100.1", "203.0.113.9"},
		{"trusted proxy, one hop", "10.0.0.2:80", "198.51.100.1", "", "198.51.100.1"},
		{"client-sent value before the proxy's", "10.0.0.2:80", "1.2.3.4, 198.51.100.1", "", "198.51.100.1"},
		{"two trusted proxies", "10.0.0.2:80", "1.2.3.4, 198.51.100.1, 10.9.9.9", "", "198.51.100.1"},
		{"all hops trusted", "10.0.0.2:80", "10.1.1.1, 10.2.2.2", "", "10.1.1.1"},
		{"no header from the proxy", "10.0.0.2:80", "", "", "10.0.0.2"},
		{"garbage hop", "10.0.0.2:80", "198.51.100.1, nonsense", "", "10.0.0.2"},
		{"Forwarded wins", "10.0.0.2:80", "1.2.3.4", `for=198.51.100.7;proto=https, for="10.3.3.3"`, "198.51.100.7"},
		{"Forwarded IPv6 with port", "[2001:db8:ff::1]:443", "", `for="[2001:db8:1:2:3::9]:4711"`, "2001:db8:1:2::/64"},
		{"Forwarded obfuscated", "10.0.0.2:80", "", `for=_hidden`, "10.0.0.2"},
		{"Forwarded IPv4 with port", "10.0.0.2:80", "", `for="198.51.100.8:1234"`, "198.51.100.8"},
	} {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = tc.peer
		if tc.xff != "" {
			r.Header.Set("X-Forwarded-For", tc.xff)
		}
		if tc.fwd != "" {
			r.Header.Set("Forwarded", tc.fwd)
		}
		if got := addr(r); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
	if _, err := ParseTrustedProxies([]string{"10.0.0.0/33"}); err == nil {
		t.Error("bad CIDR accepted")
	}
}

// Behind a trusted proxy, one client scanning random tokens is limited
// alone; every patient behind the same proxy still gets in. From an
// untrusted peer, a forged header changes nothing.
func TestRateLimitBehindProxy(t *testing.T) {
	get := func(fx *fixture, path, xff string) int {
		req, _ := http.NewRequest("GET", fx.srv.URL+path, nil)
		req.Header.Set("X-Forwarded-For", xff)
		res, err := fx.srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	setup := func(trusted string) func(*Config) {
		return func(c *Config) {
			c.ClientAddr = nil
			c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix(trusted)}
			c.FailedLookupBurst = 3
			c.FailedLookupRate = rate.Every(time.Hour)
			c.LookupFloor = -1
		}
	}
	fx := newFixture(t, setup("127.0.0.0/8")) // the test server's peer is the proxy
	for i := 0; i < 10; i++ {
		get(fx, "/p/"+tokUnknown, "203.0.113.66")
	}
	if s := get(fx, "/p/"+tokUnknown, "203.0.113.66"); s != 429 {
		t.Fatalf("scanner behind the proxy: %d", s)
	}
	if s := get(fx, "/p/"+tokOpen, "198.51.100.7"); s != 200 {
		t.Fatalf("another patient behind the same proxy: %d", s)
	}

	fx = newFixture(t, setup("10.0.0.0/8")) // the peer is not a trusted proxy
	for i := 0; i < 3; i++ {
		get(fx, "/p/"+tokUnknown, "203.0.113."+string(rune('1'+i)))
	}
	if s := get(fx, "/p/"+tokOpen, "198.51.100.7"); s != 429 {
		t.Fatalf("forged X-Forwarded-For from an untrusted peer escaped the limit: %d", s)
	}
}
