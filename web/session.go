package web

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"net/http"
	"time"
)

// Session flags: which gates this browser has passed for the link.
const (
	fCode      = 1 << iota // clinic link code accepted
	fOTPSent               // a one-time code was sent; show the code form (on the expired page: for a new link)
	fOTP                   // one-time code verified: may set a password
	fPassword              // password accepted (or just set)
	fForgot                // "forgot password": take the one-time code path
	fAsked                 // asked for a new link on the expired page
	fAskedWait             // … and was told it had asked often enough
	fRenewed               // had a new link sent with a one-time code (link.self_renew)
)

const cookieName = "sonolink_s"

// session is the signed cookie's content. The cookie is scoped to the
// link's path and bound to the link ID, so it opens nothing else.
type session struct {
	nonce  [16]byte
	issued int64 // unix seconds
	flags  uint8
	linkID string
}

func (s *session) has(f uint8) bool { return s.flags&f == f }

func (srv *server) mac(parts ...[]byte) []byte {
	m := hmac.New(sha256.New, srv.cfg.SessionKey)
	for _, p := range parts {
		m.Write(p)
		m.Write([]byte{0})
	}
	return m.Sum(nil)
}

func (srv *server) encodeSession(s *session) string {
	b := make([]byte, 0, 16+8+1+len(s.linkID))
	b = append(b, s.nonce[:]...)
	b = binary.BigEndian.AppendUint64(b, uint64(s.issued))
	b = append(b, s.flags)
	b = append(b, s.linkID...)
	sig := srv.mac([]byte("session"), b)
	return base64.RawURLEncoding.EncodeToString(b) + "." + base64.RawURLEncoding.EncodeToString(sig)
}

// readSession returns the valid session for link from the request, or nil.
func (srv *server) readSession(r *http.Request, link *Link) *session {
	c, err := r.Cookie(cookieName)
	if err != nil {
		return nil
	}
	v := c.Value
	dot := -1
	for i := len(v) - 1; i >= 0; i-- {
		if v[i] == '.' {
			dot = i
			break
		}
	}
	if dot < 0 {
		return nil
	}
	b, err1 := base64.RawURLEncoding.DecodeString(v[:dot])
	sig, err2 := base64.RawURLEncoding.DecodeString(v[dot+1:])
	if err1 != nil || err2 != nil || len(b) < 25 {
		return nil
	}
	if !hmac.Equal(sig, srv.mac([]byte("session"), b)) {
		return nil
	}
	s := &session{issued: int64(binary.BigEndian.Uint64(b[16:24])), flags: b[24], linkID: string(b[25:])}
	copy(s.nonce[:], b[:16])
	if s.linkID != link.ID {
		return nil
	}
	age := srv.cfg.Now().Sub(time.Unix(s.issued, 0))
	if age < -time.Minute || age > srv.cfg.SessionTTL {
		return nil
	}
	return s
}

func (srv *server) newSession(link *Link) *session {
	s := &session{issued: srv.cfg.Now().Unix(), linkID: link.ID}
	_, _ = rand.Read(s.nonce[:])
	return s
}

func (srv *server) setSession(w http.ResponseWriter, rc *reqCtx) {
	http.SetCookie(w, &http.Cookie{
		Name:     cookieName,
		Value:    srv.encodeSession(rc.sess),
		Path:     rc.base,
		MaxAge:   int(srv.cfg.SessionTTL / time.Second),
		HttpOnly: true,
		Secure:   srv.cfg.Secure,
		// Lax, not Strict: the link is opened from an SMS or e-mail app,
		// a top-level cross-site navigation that must carry the cookie on
		// return visits. POSTs are protected by the CSRF token.
		SameSite: http.SameSiteLaxMode,
	})
}

// csrf is the form token for the session.
func (srv *server) csrf(s *session) string {
	return base64.RawURLEncoding.EncodeToString(srv.mac([]byte("csrf"), s.nonce[:])[:18])
}

func (srv *server) checkCSRF(r *http.Request, s *session) bool {
	got := r.PostFormValue("csrf")
	want := srv.csrf(s)
	return len(got) == len(want) && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}
