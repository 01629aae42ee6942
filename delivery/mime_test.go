package delivery

import (
	"encoding/base64"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"strings"
	"testing"
)

type mimeDecoder = mime.WordDecoder

// bodies returns the decoded text/plain and text/html parts of msg.
func bodies(t *testing.T, msg *mail.Message) (text, html string) {
	t.Helper()
	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(mt, "multipart/") {
		b, _ := io.ReadAll(quotedprintable.NewReader(msg.Body))
		return string(b), ""
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for {
		p, err := mr.NextPart() // decodes quoted-printable itself
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(p)
		ct, ps, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
		if ps["charset"] != "UTF-8" {
			t.Errorf("part %s charset %q", ct, ps["charset"])
		}
		switch ct {
		case "text/plain":
			text = string(b)
		case "text/html":
			html = string(b)
		}
	}
}

// An HTML e-mail with an inline logo is multipart/alternative with the
// plain text first and a multipart/related holding the HTML and the image
// it names by Content-ID; the image decodes back to its bytes.
func TestInlineImage(t *testing.T) {
	logo := []byte("\x89PNG\r\n\x1a\n" + strings.Repeat("x", 200))
	m := Email{ID: "M1", From: "a@clinic.example", To: "p@example.com", Subject: "Bilder",
		Text: "Öppna https://x.example/p/t", HTML: `<html lang="sv"><img src="cid:logo@sonolink"></html>`,
		Inline: &Inline{ContentID: "logo@sonolink", Type: "image/png", Data: logo}}
	msg, err := mail.ReadMessage(strings.NewReader(string(m.Bytes())))
	if err != nil {
		t.Fatal(err)
	}
	mt, params, _ := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if mt != "multipart/alternative" {
		t.Fatalf("top part %s", mt)
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	var types []string
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		ct, ps, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
		types = append(types, ct)
		if ct != "multipart/related" {
			continue
		}
		rr := multipart.NewReader(p, ps["boundary"])
		for {
			q, err := rr.NextPart()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			qt, _, _ := mime.ParseMediaType(q.Header.Get("Content-Type"))
			types = append(types, qt)
			if qt == "image/png" {
				if q.Header.Get("Content-ID") != "<logo@sonolink>" {
					t.Errorf("Content-ID %q", q.Header.Get("Content-ID"))
				}
				data, _ := io.ReadAll(base64.NewDecoder(base64.StdEncoding, q))
				if string(data) != string(logo) {
					t.Errorf("image decodes to %d bytes, want %d", len(data), len(logo))
				}
			}
		}
	}
	if got := strings.Join(types, " "); got != "text/plain multipart/related text/html image/png" {
		t.Errorf("parts %s", got)
	}
}
