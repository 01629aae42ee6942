package delivery

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// SMTPConfig configures the SMTP provider.
type SMTPConfig struct {
	Host     string
	Port     int    // default 587 for starttls, 465 for tls, 25 for none
	Security string // "starttls" (default), "tls" (implicit TLS) or "none"
	User     string // AUTH PLAIN when set (refused without TLS unless AllowInsecureAuth)
	Password string
	From     string
	// AllowInsecureAuth permits AUTH over an unencrypted connection
	// (security "none"); only for a relay on the same machine.
	AllowInsecureAuth bool
	TLSConfig         *tls.Config // optional (e.g. a private CA); ServerName defaults to Host
	Timeout           time.Duration
}

// SMTP sends e-mail through an SMTP server with github.com/emersion/go-smtp.
type SMTP SMTPConfig

// SendEmail delivers m to the server in one transaction.
func (s *SMTP) SendEmail(ctx context.Context, m Email) error {
	if m.From == "" {
		m.From = s.From
	}
	sec := s.Security
	if sec == "" {
		sec = "starttls"
	}
	port := s.Port
	if port == 0 {
		port = map[string]int{"starttls": 587, "tls": 465, "none": 25}[sec]
	}
	if port == 0 {
		return Permanent(fmt.Errorf("smtp: unknown security %q (starttls, tls or none)", sec))
	}
	timeout := s.Timeout
	if timeout == 0 {
		timeout = 30 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	addr := net.JoinHostPort(s.Host, strconv.Itoa(port))
	tcfg := &tls.Config{ServerName: s.Host, MinVersion: tls.VersionTLS12}
	if s.TLSConfig != nil {
		tcfg = s.TLSConfig.Clone()
		if tcfg.ServerName == "" {
			tcfg.ServerName = s.Host
		}
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("smtp: %w", err)
	}
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	var c *smtp.Client
	switch sec {
	case "tls":
		c = smtp.NewClient(tls.Client(conn, tcfg))
	case "starttls":
		c, err = smtp.NewClientStartTLS(conn, tcfg)
		if err != nil {
			conn.Close()
			return fmt.Errorf("smtp: STARTTLS with %s: %w", addr, err)
		}
	case "none":
		c = smtp.NewClient(conn)
	default:
		conn.Close()
		return Permanent(fmt.Errorf("smtp: unknown security %q (starttls, tls or none)", sec))
	}
	defer c.Close()
	if s.User != "" {
		if sec == "none" && !s.AllowInsecureAuth {
			return Permanent(errors.New("smtp: refusing to send the password without TLS (security none); use starttls or tls"))
		}
		if err := c.Auth(sasl.NewPlainClient("", s.User, s.Password)); err != nil {
			return smtpErr("AUTH", err)
		}
	}
	if err := c.SendMail(m.From, []string{m.To}, bytes.NewReader(m.Bytes())); err != nil {
		return smtpErr("sending", err)
	}
	c.Quit() // the message is accepted; a failed QUIT changes nothing
	return nil
}

// smtpErr makes 5xx replies permanent and the rest retryable.
func smtpErr(what string, err error) error {
	var se *smtp.SMTPError
	if errors.As(err, &se) && se.Code >= 500 {
		return Permanent(fmt.Errorf("smtp: %s: %w", what, err))
	}
	return fmt.Errorf("smtp: %s: %w", what, err)
}
