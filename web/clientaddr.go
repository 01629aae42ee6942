package web

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// clientAddr returns the Config.ClientAddr for a server behind the proxies
// in trusted. A request whose peer is not one of them is its own client,
// whatever headers it carries. From a trusted peer, the client is the
// nearest address in Forwarded for= (RFC 7239) or, without that header,
// X-Forwarded-For, read right to left past the trusted proxies: only the
// hops a trusted proxy appended are believed, so a client cannot choose its
// address by sending the header itself.
func clientAddr(trusted []netip.Prefix) func(*http.Request) string {
	isTrusted := func(a netip.Addr) bool {
		for _, p := range trusted {
			if p.Contains(a) {
				return true
			}
		}
		return false
	}
	return func(r *http.Request) string {
		peer, ok := parseHop(r.RemoteAddr)
		if !ok || !isTrusted(peer) {
			return remoteHost(r)
		}
		client := peer
		hops := forwardedFor(r.Header)
		for i := len(hops) - 1; i >= 0; i-- {
			a, ok := parseHop(hops[i])
			if !ok {
				break // "unknown", an obfuscated name or garbage: the last proxy is the client
			}
			client = a
			if !isTrusted(a) {
				break
			}
		}
		return groupAddr(client)
	}
}

// forwardedFor lists the addresses a request passed through, client first:
// the for= parameters of Forwarded when there is one, else
// X-Forwarded-For.
func forwardedFor(h http.Header) []string {
	var hops []string
	if fw := h.Values("Forwarded"); len(fw) > 0 {
		for _, elem := range strings.Split(strings.Join(fw, ","), ",") {
			v := "unknown" // an element without for= is a hop we cannot place
			for _, pair := range strings.Split(elem, ";") {
				k, val, _ := strings.Cut(strings.TrimSpace(pair), "=")
				if strings.EqualFold(k, "for") {
					v = strings.Trim(val, `"`)
				}
			}
			hops = append(hops, v)
		}
		return hops
	}
	for _, x := range h.Values("X-Forwarded-For") {
		for _, v := range strings.Split(x, ",") {
			hops = append(hops, strings.TrimSpace(v))
		}
	}
	return hops
}

// parseHop reads an address as proxies write it: 192.0.2.1,
// 192.0.2.1:4711, 2001:db8::1, [2001:db8::1]:4711.
func parseHop(s string) (netip.Addr, bool) {
	s = strings.TrimSpace(s)
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap(), true
	}
	s = strings.TrimSuffix(strings.TrimPrefix(s, "["), "]")
	a, err := netip.ParseAddr(s)
	return a.Unmap(), err == nil
}

// groupAddr is the rate-limiting key of an address: IPv4 as is, IPv6 by
// its /64 (what one subscriber gets).
func groupAddr(a netip.Addr) string {
	if a.Is4() {
		return a.String()
	}
	p, _ := a.Prefix(64)
	return p.String()
}

// ParseTrustedProxies reads a comma-separated list of addresses and CIDRs.
func ParseTrustedProxies(list []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, v := range list {
		v = strings.TrimSpace(v)
		if v == "" {
			continue
		}
		if !strings.Contains(v, "/") {
			a, err := netip.ParseAddr(v)
			if err != nil {
				return nil, &net.ParseError{Type: "IP address or CIDR", Text: v}
			}
			out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(v)
		if err != nil {
			return nil, &net.ParseError{Type: "IP address or CIDR", Text: v}
		}
		out = append(out, p.Masked())
	}
	return out, nil
}
