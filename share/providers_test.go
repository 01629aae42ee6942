package share

import (
	"context"
	"io"
	"mime"
	"net"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"strings"
	"sync"
	"testing"

	"github.com/emersion/go-smtp"

	"sonolink/delivery"
	"sonolink/settings"
)

// smtpSink is a real SMTP server (go-smtp) on loopback that keeps messages.
type smtpSink struct {
	mu   sync.Mutex
	msgs [][]byte
}

func (b *smtpSink) NewSession(*smtp.Conn) (smtp.Session, error) { return &sinkSession{b: b}, nil }

type sinkSession struct{ b *smtpSink }

func (s *sinkSession) Mail(string, *smtp.MailOptions) error { return nil }
func (s *sinkSession) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (s *sinkSession) Data(r io.Reader) error {
	d, err := io.ReadAll(r)
	s.b.mu.Lock()
	s.b.msgs = append(s.b.msgs, d)
	s.b.mu.Unlock()
	return err
}
func (s *sinkSession) Reset()        {}
func (s *sinkSession) Logout() error { return nil }

// TestServiceThroughSMTPAndTwilio sends a link through configured
// providers: e-mail over SMTP to a real server, SMS to a local server that
// speaks Twilio's Messages API.
func TestServiceThroughSMTPAndTwilio(t *testing.T) {
	sink := &smtpSink{}
	srv := smtp.NewServer(sink)
	srv.Domain = "localhost"
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(l)
	defer srv.Close()

	var mu sync.Mutex
	var twilioForm []map[string][]string
	tw := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, pass, _ := r.BasicAuth()
		if r.URL.Path != "/2010-04-01/Accounts/AC1/Messages.json" || user != "AC1" || pass != "tok" {
			w.WriteHeader(401)
			return
		}
		r.ParseForm()
		mu.Lock()
		twilioForm = append(twilioForm, r.PostForm)
		mu.Unlock()
		w.WriteHeader(201)
		io.WriteString(w, `{"sid":"SM1"}`)
	}))
	defer tw.Close()

	cfg := delivery.Config{
		Email: delivery.EmailConfig{Provider: "smtp", From: "images@clinic.example", SMTP: delivery.SMTPConfig{
			Host: "127.0.0.1", Port: l.Addr().(*net.TCPAddr).Port, Security: "none"}},
		SMS: delivery.SMSConfig{Provider: "twilio", Twilio: delivery.TwilioConfig{AccountSID: "AC1", AuthToken: "tok", From: "+46700000000", BaseURL: tw.URL}},
	}
	s := open(t, t.TempDir(), newClock(), func(o *Options) { o.Delivery = cfg; o.BaseURL = "https://images.clinic.example/" })
	s.UpdateSetting(settings.KeyClinicName, "Klinik Norr")
	s.UpdateSetting(settings.KeyLanguage, "sv")
	link, url, err := s.Create(context.Background(), CreateRequest{StudyUID: "1.2.840.1", StudyKey: "S42", Emails: []string{"name@example.com"}, Phones: []string{"+46 70 123 45 67"}})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(url, "https://images.clinic.example/p/") {
		t.Fatalf("url %q", url)
	}
	waitFor(t, "both deliveries", func() bool {
		d, _ := s.Deliveries(link.ID)
		return len(d) == 2 && d[0].State == "sent" && d[1].State == "sent"
	})
	sink.mu.Lock()
	raw := sink.msgs[0]
	sink.mu.Unlock()
	msg, err := mail.ReadMessage(strings.NewReader(string(raw)))
	if err != nil {
		t.Fatal(err)
	}
	subject, _ := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
	from, _ := mail.ParseAddress(msg.Header.Get("From"))
	if subject != "Dina ultraljudsbilder från Klinik Norr" || from.Address != "images@clinic.example" || from.Name != "Klinik Norr" {
		t.Fatalf("subject %q from %v", subject, from)
	}
	for _, phi := range []string{"1.2.840.1", "S42", "name@"} {
		if strings.Contains(subject, phi) {
			t.Fatalf("subject holds study data %q", phi)
		}
	}
	if !strings.Contains(strings.ReplaceAll(string(raw), "=\r\n", ""), url) || msg.Header.Get("Message-Id") == "" {
		t.Fatalf("message lacks the link or Message-ID:\n%s", raw)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(twilioForm) != 1 || twilioForm[0]["To"][0] != "+46701234567" || !strings.Contains(twilioForm[0]["Body"][0], url) || strings.Contains(twilioForm[0]["Body"][0], "S42") {
		t.Fatalf("twilio requests %v", twilioForm)
	}
}
