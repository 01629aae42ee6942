package delivery

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"mime"
	"mime/quotedprintable"
	"net/mail"
	"strings"
	"time"
)

// Bytes renders m as an RFC 5322 message: Date, From, To, Subject,
// Message-ID (derived from m.ID, so a retried message keeps its ID),
// MIME-Version, and a UTF-8 quoted-printable text/plain body, with a
// text/html alternative when m.HTML is set. With m.Inline too, the HTML
// and its image form a multipart/related part inside the alternative, the
// structure mail clients expect of an HTML message with an embedded
// image. Lines end in CRLF.
func (m Email) Bytes() []byte {
	var b bytes.Buffer
	date := m.Date
	if date.IsZero() {
		date = time.Now()
	}
	hdr := func(k, v string) { fmt.Fprintf(&b, "%s: %s\r\n", k, v) }
	hdr("Date", date.Format(time.RFC1123Z))
	from := mail.Address{Name: m.FromName, Address: m.From}
	hdr("From", from.String())
	hdr("To", (&mail.Address{Address: m.To}).String())
	hdr("Subject", mime.QEncoding.Encode("utf-8", m.Subject))
	hdr("Message-ID", m.MessageID())
	hdr("MIME-Version", "1.0")
	hdr("Auto-Submitted", "auto-generated")
	if m.HTML == "" {
		hdr("Content-Type", "text/plain; charset=UTF-8")
		hdr("Content-Transfer-Encoding", "quoted-printable")
		b.WriteString("\r\n")
		writeQP(&b, m.Text)
		return b.Bytes()
	}
	boundary := "=_sonolink_" + shortHash(m.ID)
	hdr("Content-Type", `multipart/alternative; boundary="`+boundary+`"`)
	b.WriteString("\r\nThis is a multi-part message in MIME format.\r\n")
	fmt.Fprintf(&b, "\r\n--%s\r\n", boundary)
	writeTextPart(&b, "text/plain", m.Text)
	fmt.Fprintf(&b, "\r\n--%s\r\n", boundary)
	if m.Inline == nil {
		writeTextPart(&b, "text/html", m.HTML)
	} else {
		related := boundary + "_rel"
		fmt.Fprintf(&b, "Content-Type: multipart/related; type=\"text/html\"; boundary=\"%s\"\r\n", related)
		fmt.Fprintf(&b, "\r\n--%s\r\n", related)
		writeTextPart(&b, "text/html", m.HTML)
		fmt.Fprintf(&b, "\r\n--%s\r\n", related)
		writeInline(&b, m.Inline)
		fmt.Fprintf(&b, "\r\n--%s--\r\n", related)
	}
	fmt.Fprintf(&b, "\r\n--%s--\r\n", boundary)
	return b.Bytes()
}

func writeTextPart(b *bytes.Buffer, typ, body string) {
	fmt.Fprintf(b, "Content-Type: %s; charset=UTF-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n", typ)
	writeQP(b, body)
}

// writeInline writes an image part in base64, 76 characters a line.
func writeInline(b *bytes.Buffer, in *Inline) {
	fmt.Fprintf(b, "Content-Type: %s\r\nContent-Transfer-Encoding: base64\r\nContent-ID: <%s>\r\nContent-Disposition: inline\r\n\r\n", in.Type, in.ContentID)
	enc := base64.StdEncoding.EncodeToString(in.Data)
	for len(enc) > 76 {
		b.WriteString(enc[:76] + "\r\n")
		enc = enc[76:]
	}
	b.WriteString(enc + "\r\n")
}

// MessageID is the Message-ID header for m: stable for a given m.ID.
func (m Email) MessageID() string {
	domain := "sonolink.local"
	if at := strings.LastIndexByte(m.From, '@'); at >= 0 && at+1 < len(m.From) {
		domain = m.From[at+1:]
	}
	return "<" + m.ID + "@" + domain + ">"
}

func writeQP(b *bytes.Buffer, s string) {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	s = strings.ReplaceAll(s, "\n", "\r\n")
	w := quotedprintable.NewWriter(b)
	w.Write([]byte(s))
	w.Close()
	b.WriteString("\r\n")
}

func shortHash(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:8])
}
