package delivery

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// FileOutbox is the default provider: each message becomes one file in Dir,
// named by its message ID — <id>.eml (RFC 5322) or <id>.sms ("To: +46…",
// a blank line, the body). Files are written to a temporary name, synced and
// renamed, so a reader never sees half a message and a retried message
// replaces its own file instead of adding a second one.
type FileOutbox struct {
	Dir  string
	From string // sender address for e-mail whose From is empty
}

// SendEmail writes m to Dir/<m.ID>.eml.
func (f *FileOutbox) SendEmail(ctx context.Context, m Email) error {
	if m.From == "" {
		m.From = f.From
	}
	return f.write(m.ID, ".eml", m.Bytes())
}

// SendSMS writes m to Dir/<m.ID>.sms.
func (f *FileOutbox) SendSMS(ctx context.Context, m SMS) error {
	return f.write(m.ID, ".sms", []byte("To: "+m.To+"\n\n"+m.Body+"\n"))
}

func (f *FileOutbox) write(id, ext string, data []byte) error {
	if id == "" || strings.ContainsAny(id, `/\.`) {
		return Permanent(fmt.Errorf("file outbox: bad message id %q", id))
	}
	if err := os.MkdirAll(f.Dir, 0o750); err != nil {
		return fmt.Errorf("file outbox: %w", err)
	}
	final := filepath.Join(f.Dir, id+ext)
	tmp, err := os.CreateTemp(f.Dir, "."+id+"-*.tmp")
	if err != nil {
		return fmt.Errorf("file outbox: %w", err)
	}
	_, werr := tmp.Write(data)
	serr := tmp.Sync()
	cerr := tmp.Close()
	if err := errors.Join(werr, serr, cerr); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("file outbox: writing %s: %w", final, err)
	}
	if err := os.Chmod(tmp.Name(), 0o640); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("file outbox: %w", err)
	}
	if err := os.Rename(tmp.Name(), final); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("file outbox: %w", err)
	}
	if d, err := os.Open(f.Dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}
