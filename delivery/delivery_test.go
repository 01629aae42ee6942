package delivery

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

const link = "http://localhost:8080/p/AbCdEf0123456789-_xyzAbCdEf0123456789-_xyz"

func testEmail() Email {
	return Email{
		ID: "M0001", FromName: "Klinik Åre", From: "clinic@example.com", To: "patient@example.org",
		Subject: "Dina ultraljudsbilder från Klinik Åre",
		Text:    "Hej!\n\nDina bilder: " + link + "\nTillgängliga till 1 oktober 2026.\n",
		HTML:    `<p>Dina bilder: <a href="` + link + `">öppna</a></p>`,
		Date:    time.Date(2026, 7, 3, 10, 0, 0, 0, time.UTC),
	}
}

func TestFileOutbox(t *testing.T) {
	dir := t.TempDir()
	f := &FileOutbox{Dir: dir}
	m := testEmail()
	if err := f.SendEmail(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	// A retry of the same message replaces its file.
	if err := f.SendEmail(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	if err := f.SendSMS(context.Background(), SMS{ID: "M0002", To: "+46701234567", Body: "Bilder: " + link}); err != nil {
		t.Fatal(err)
	}
	ents, _ := os.ReadDir(dir)
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if strings.Join(names, ",") != "M0001.eml,M0002.sms" {
		t.Fatalf("outbox holds %v", names)
	}
	raw, _ := os.ReadFile(filepath.Join(dir, "M0001.eml"))
	checkEML(t, raw, m)
	sms, _ := os.ReadFile(filepath.Join(dir, "M0002.sms"))
	if string(sms) != "To: +46701234567\n\nBilder: "+link+"\n" {
		t.Fatalf("sms file = %q", sms)
	}
	if err := f.SendSMS(context.Background(), SMS{ID: "../x", To: "+4670", Body: "x"}); !IsPermanent(err) {
		t.Fatalf("bad id accepted: %v", err)
	}
}

// checkEML parses raw as RFC 5322 and checks headers and both bodies.
func checkEML(t *testing.T, raw []byte, m Email) {
	t.Helper()
	msg, err := mail.ReadMessage(strings.NewReader(string(raw)))
	if err != nil {
		t.Fatalf("not RFC 5322: %v\n%s", err, raw)
	}
	for _, h := range []string{"Date", "From", "To", "Subject", "Message-Id", "Mime-Version", "Content-Type"} {
		if msg.Header.Get(h) == "" {
			t.Errorf("header %s missing", h)
		}
	}
	if _, err := msg.Header.Date(); err != nil {
		t.Errorf("Date: %v", err)
	}
	dec := new(mimeDecoder)
	subj, err := dec.DecodeHeader(msg.Header.Get("Subject"))
	if err != nil || subj != m.Subject {
		t.Errorf("Subject = %q (%v), want %q", subj, err, m.Subject)
	}
	from, err := mail.ParseAddress(msg.Header.Get("From"))
	if err != nil || from.Name != m.FromName || from.Address != m.From {
		t.Errorf("From = %v (%v)", from, err)
	}
	if msg.Header.Get("Message-Id") != "<"+m.ID+"@example.com>" {
		t.Errorf("Message-ID = %q", msg.Header.Get("Message-Id"))
	}
	text, html := bodies(t, msg)
	if !strings.Contains(text, link) || !strings.Contains(text, "Tillgängliga") {
		t.Errorf("text body lacks the link or UTF-8: %q", text)
	}
	if m.HTML != "" && !strings.Contains(html, link) {
		t.Errorf("html body lacks the link: %q", html)
	}
}

func TestSendGrid(t *testing.T) {
	var got struct {
		path, auth string
		body       map[string]any
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got.path, got.auth = r.URL.Path, r.Header.Get("Authorization")
		json.NewDecoder(r.Body).Decode(&got.body)
		w.WriteHeader(http.StatusAccepted)
	}))
	defer srv.Close()
	sg := &SendGrid{APIKey: "SG.test-key", BaseURL: srv.URL, From: "clinic@example.com"}
	m := testEmail()
	m.From = ""
	if err := sg.SendEmail(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	if got.path != "/v3/mail/send" || got.auth != "Bearer SG.test-key" {
		t.Fatalf("request %s auth %q", got.path, got.auth)
	}
	b, _ := json.Marshal(got.body)
	s := string(b)
	for _, want := range []string{`"email":"patient@example.org"`, `"email":"clinic@example.com"`, link, `"subject":"Dina ultraljudsbilder från Klinik Åre"`, `"sonolink_message_id":"M0001"`, `"click_tracking":{"enable":false`} {
		if !strings.Contains(s, want) {
			t.Errorf("request body lacks %s:\n%s", want, s)
		}
	}

	// A rejected request is permanent; a server error retries.
	for code, perm := range map[int]bool{400: true, 401: true, 429: false, 503: false} {
		bad := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(code)
			io.WriteString(w, `{"errors":[{"message":"nope"}]}`)
		}))
		err := (&SendGrid{APIKey: "k", BaseURL: bad.URL, From: "a@b.se"}).SendEmail(context.Background(), m)
		bad.Close()
		if err == nil || IsPermanent(err) != perm {
			t.Errorf("status %d: err %v, permanent %v", code, err, IsPermanent(err))
		}
	}
}

func TestTwilio(t *testing.T) {
	type rec struct {
		path, user, pass, ctype string
		form                    map[string][]string
	}
	var got rec
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got.path = r.URL.Path
		got.user, got.pass, _ = r.BasicAuth()
		got.ctype = r.Header.Get("Content-Type")
		r.ParseForm()
		got.form = r.PostForm
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		io.WriteString(w, `{"sid":"SM123","status":"queued"}`)
	}))
	defer srv.Close()
	tw := &Twilio{AccountSID: "AC123", AuthToken: "secret", From: "+15005550006", BaseURL: srv.URL}
	body := "Klinik Åre: dina bilder " + link
	if err := tw.SendSMS(context.Background(), SMS{ID: "M1", To: "+46701234567", Body: body}); err != nil {
		t.Fatal(err)
	}
	if got.path != "/2010-04-01/Accounts/AC123/Messages.json" || got.user != "AC123" || got.pass != "secret" {
		t.Fatalf("request %+v", got)
	}
	if got.ctype != "application/x-www-form-urlencoded" || got.form["To"][0] != "+46701234567" || got.form["From"][0] != "+15005550006" || got.form["Body"][0] != body {
		t.Fatalf("form %+v", got.form)
	}
	bad := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(400)
		io.WriteString(w, `{"code":21211,"message":"Invalid 'To' Phone Number","status":400}`)
	}))
	defer bad.Close()
	tw.BaseURL = bad.URL
	if err := tw.SendSMS(context.Background(), SMS{ID: "M2", To: "+46701234567", Body: "x"}); !IsPermanent(err) || !strings.Contains(err.Error(), "21211") {
		t.Fatalf("err = %v", err)
	}
}

func TestWebhook(t *testing.T) {
	var got webhookPayload
	var key, auth string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key, auth = r.Header.Get("Idempotency-Key"), r.Header.Get("Authorization")
		json.NewDecoder(r.Body).Decode(&got)
	}))
	defer srv.Close()
	wh := &Webhook{URL: srv.URL, Header: map[string]string{"Authorization": "Bearer x"}}
	if err := wh.SendSMS(context.Background(), SMS{ID: "M9", To: "+34612345678", Body: "Sus imagenes: " + link}); err != nil {
		t.Fatal(err)
	}
	if got.To != "+34612345678" || got.Channel != "sms" || !strings.Contains(got.Body, link) || key != "M9" || auth != "Bearer x" {
		t.Fatalf("payload %+v key %q auth %q", got, key, auth)
	}
	if err := wh.SendEmail(context.Background(), testEmail()); err != nil || got.Subject == "" || got.Channel != "email" {
		t.Fatalf("email: %v %+v", err, got)
	}
}

func TestNewConfig(t *testing.T) {
	es, ss, err := New(Config{}, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := es.(*FileOutbox); !ok {
		t.Fatalf("default e-mail sender %T", es)
	}
	if _, ok := ss.(*FileOutbox); !ok {
		t.Fatalf("default SMS sender %T", ss)
	}
	for _, c := range []Config{
		{Email: EmailConfig{Provider: "pigeon"}},
		{Email: EmailConfig{Provider: "sendgrid"}},
		{Email: EmailConfig{Provider: "smtp"}},
		{SMS: SMSConfig{Provider: "twilio", Twilio: TwilioConfig{AccountSID: "AC"}}},
	} {
		if _, _, err := New(c, ""); err == nil {
			t.Errorf("config %+v accepted", c)
		}
	}
}

// --- SMTP against a real go-smtp server on loopback ---

type smtpBackend struct {
	mu       sync.Mutex
	user     string
	pass     string
	received []smtpMsg
	tls      []bool
}

type smtpMsg struct {
	from string
	to   []string
	data []byte
	auth string
}

func (b *smtpBackend) NewSession(c *smtp.Conn) (smtp.Session, error) {
	_, isTLS := c.TLSConnectionState()
	return &smtpSession{b: b, tls: isTLS, conn: c}, nil
}

type smtpSession struct {
	b    *smtpBackend
	conn *smtp.Conn
	tls  bool
	m    smtpMsg
}

func (s *smtpSession) AuthMechanisms() []string { return []string{sasl.Plain} }
func (s *smtpSession) Auth(mech string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(identity, user, pass string) error {
		if user != s.b.user || pass != s.b.pass {
			// what real servers answer (go-smtp's own default is a 454)
			return &smtp.SMTPError{Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 8}, Message: "invalid credentials"}
		}
		s.m.auth = user
		return nil
	}), nil
}
func (s *smtpSession) Mail(from string, _ *smtp.MailOptions) error { s.m.from = from; return nil }
func (s *smtpSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.m.to = append(s.m.to, to)
	return nil
}
func (s *smtpSession) Data(r io.Reader) error {
	d, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.m.data = d
	_, isTLS := s.conn.TLSConnectionState()
	s.b.mu.Lock()
	s.b.received = append(s.b.received, s.m)
	s.b.tls = append(s.b.tls, isTLS)
	s.b.mu.Unlock()
	return nil
}
func (s *smtpSession) Reset()        {}
func (s *smtpSession) Logout() error { return nil }

func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "smtp.test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(c)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, pool
}

func startSMTP(t *testing.T, implicitTLS bool) (*smtpBackend, int, *x509.CertPool) {
	cert, pool := selfSigned(t)
	be := &smtpBackend{user: "clinic", pass: "s3cret"}
	s := smtp.NewServer(be)
	s.Domain = "localhost"
	s.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
	s.ReadTimeout, s.WriteTimeout = 10*time.Second, 10*time.Second
	var l net.Listener
	var err error
	if implicitTLS {
		l, err = tls.Listen("tcp", "127.0.0.1:0", s.TLSConfig)
	} else {
		l, err = net.Listen("tcp", "127.0.0.1:0")
	}
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(l)
	t.Cleanup(func() { s.Close() })
	return be, l.Addr().(*net.TCPAddr).Port, pool
}

func TestSMTP(t *testing.T) {
	for _, sec := range []string{"starttls", "tls"} {
		t.Run(sec, func(t *testing.T) {
			be, port, pool := startSMTP(t, sec == "tls")
			c := &SMTP{Host: "127.0.0.1", Port: port, Security: sec, User: "clinic", Password: "s3cret",
				From: "clinic@example.com", TLSConfig: &tls.Config{RootCAs: pool}}
			m := testEmail()
			m.From = ""
			if err := c.SendEmail(context.Background(), m); err != nil {
				t.Fatal(err)
			}
			be.mu.Lock()
			defer be.mu.Unlock()
			if len(be.received) != 1 {
				t.Fatalf("server received %d messages", len(be.received))
			}
			got := be.received[0]
			if got.auth != "clinic" || !be.tls[0] || got.from != "clinic@example.com" || len(got.to) != 1 || got.to[0] != "patient@example.org" {
				t.Fatalf("session %+v tls %v", got, be.tls)
			}
			m.From = "clinic@example.com"
			checkEML(t, got.data, m)
		})
	}
	t.Run("wrong password is permanent", func(t *testing.T) {
		_, port, pool := startSMTP(t, false)
		c := &SMTP{Host: "127.0.0.1", Port: port, User: "clinic", Password: "wrong", From: "a@example.com", TLSConfig: &tls.Config{RootCAs: pool}}
		if err := c.SendEmail(context.Background(), testEmail()); !IsPermanent(err) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("no password without TLS", func(t *testing.T) {
		_, port, _ := startSMTP(t, false)
		c := &SMTP{Host: "127.0.0.1", Port: port, Security: "none", User: "clinic", Password: "s3cret", From: "a@example.com"}
		if err := c.SendEmail(context.Background(), testEmail()); !IsPermanent(err) || !strings.Contains(err.Error(), "without TLS") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("server down retries", func(t *testing.T) {
		l, _ := net.Listen("tcp", "127.0.0.1:0")
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		c := &SMTP{Host: "127.0.0.1", Port: port, Security: "none", From: "a@example.com", Timeout: 2 * time.Second}
		if err := c.SendEmail(context.Background(), testEmail()); err == nil || IsPermanent(err) {
			t.Fatalf("err = %v", err)
		}
	})
}
