package share

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"sonolink/contact"
	"sonolink/delivery"
	"sonolink/internal/logid"
	"sonolink/settings"
)

// Message kinds and channels.
const (
	kindLink     = "link"
	kindOTP      = "otp"
	kindReminder = "reminder"
	ChannelEmail = "email"
	ChannelSMS   = "sms"
)

// Outbox message states.
const (
	stateQueued    = "queued"
	stateSending   = "sending"
	stateSent      = "sent"
	stateFailed    = "failed"
	stateCancelled = "cancelled"
)

// outboxMsg is one message in the persistent outbox. Its ID is the
// idempotency key: providers name files and Message-IDs after it, so a
// message sent again after a crash between "sent" and "recorded" replaces
// itself instead of appearing twice (file outbox) or is recognisable as a
// duplicate (e-mail).
//
// The outbox is scheduled on the real clock (Created, NextAttempt), not on
// Options.Now.
type outboxMsg struct {
	ID          string    `json:"id"`
	LinkID      string    `json:"link_id"`
	StudyUID    string    `json:"study_uid"`
	Kind        string    `json:"kind"`
	Channel     string    `json:"channel"`
	To          string    `json:"to"`
	Sealed      []byte    `json:"sealed,omitempty"` // rendered message, AES-GCM; deleted once final
	State       string    `json:"state"`
	Attempts    int       `json:"attempts"`
	NextAttempt time.Time `json:"next_attempt,omitzero"`
	LastError   string    `json:"last_error,omitempty"`
	Created     time.Time `json:"created"`
	SentAt      time.Time `json:"sent_at,omitzero"`
	// Via is the provider that took the message ("file": only written to
	// the local outbox directory); empty for messages from before it was
	// recorded.
	Via string `json:"via,omitempty"`
}

func newMessageID() string {
	t := time.Now().UTC()
	return "M" + t.Format("20060102150405") + fmt.Sprintf("%03d", t.Nanosecond()/1e6) + newID("-", 6)
}

// enqueueLink queues the link's message to every contact.
func (s *Service) enqueueLink(tx *bolt.Tx, rec *linkRecord, token string, st settings.Values) error {
	r := s.rendererIn(st, rec.Lang)
	u := s.URL(token)
	g := gates{LinkCode: st.LinkCodeSet, Password: s.protected(&rec.Link)}
	for _, e := range rec.Emails {
		if err := s.enqueue(tx, rec, kindLink, ChannelEmail, e, r.linkEmail(u, rec.Expires, g)); err != nil {
			return err
		}
	}
	for _, p := range rec.Phones {
		if err := s.enqueue(tx, rec, kindLink, ChannelSMS, p, r.linkSMS(u, rec.Expires, g)); err != nil {
			return err
		}
	}
	return nil
}

// protected reports whether the link's page will ask for a one-time code
// and a password (Options.Protected); when that cannot be known, the
// message just does not say so.
func (s *Service) protected(l *Link) bool {
	if s.opts.Protected == nil {
		return false
	}
	p, err := s.opts.Protected(l.StudyUID, l.Shows)
	if err != nil {
		s.log.Warn("cannot tell whether the link needs a password; the message will not say", "link", l.ID, "err", err)
	}
	return p
}

func (s *Service) enqueue(tx *bolt.Tx, rec *linkRecord, kind, channel, to string, content rendered) error {
	m := &outboxMsg{ID: newMessageID(), LinkID: rec.ID, StudyUID: rec.StudyUID, Kind: kind, Channel: channel, To: to,
		State: stateQueued, Created: time.Now().UTC()}
	m.NextAttempt = m.Created
	plain, _ := json.Marshal(content)
	m.Sealed = s.keys.sealBytes(plain, m.ID)
	if err := putMsg(tx, m); err != nil {
		return err
	}
	if err := tx.Bucket(bktPending).Put([]byte(m.ID), nil); err != nil {
		return err
	}
	return tx.Bucket(bktLinkMsgs).Put([]byte(rec.ID+"\x00"+m.ID), nil)
}

func putMsg(tx *bolt.Tx, m *outboxMsg) error {
	data, err := json.Marshal(m)
	if err != nil {
		return err
	}
	return tx.Bucket(bktOutbox).Put([]byte(m.ID), data)
}

func getMsg(tx *bolt.Tx, id string) (*outboxMsg, error) {
	v := tx.Bucket(bktOutbox).Get([]byte(id))
	if v == nil {
		return nil, fmt.Errorf("outbox message %s missing", id)
	}
	var m outboxMsg
	return &m, json.Unmarshal(v, &m)
}

// recoverOutbox runs at Open: a message left "sending" by a process that
// stopped mid-send is queued again (at least once; the idempotency key
// keeps the file outbox at exactly once).
func (s *Service) recoverOutbox(tx *bolt.Tx) error {
	c := tx.Bucket(bktPending).Cursor()
	for k, _ := c.First(); k != nil; k, _ = c.Next() {
		m, err := getMsg(tx, string(k))
		if err != nil {
			continue
		}
		if m.State == stateSending {
			m.State = stateQueued
			if err := putMsg(tx, m); err != nil {
				return err
			}
		}
	}
	return nil
}

// cancelPending cancels the link's queued (not yet sending) messages.
func (s *Service) cancelPending(tx *bolt.Tx, linkID, reason string) error {
	prefix := []byte(linkID + "\x00")
	c := tx.Bucket(bktLinkMsgs).Cursor()
	pending := tx.Bucket(bktPending)
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		id := k[len(prefix):]
		if pending.Get(id) == nil {
			continue
		}
		m, err := getMsg(tx, string(id))
		if err != nil || m.State != stateQueued {
			continue
		}
		m.State, m.LastError, m.Sealed, m.NextAttempt = stateCancelled, reason, nil, time.Time{}
		if err := putMsg(tx, m); err != nil {
			return err
		}
		if err := pending.Delete(id); err != nil {
			return err
		}
	}
	return nil
}

func (s *Service) deliveries(tx *bolt.Tx, linkID, kind string) []DeliveryStatus {
	return linkDeliveries(tx, linkID, kind)
}

// linkDeliveries is deliveries for code that runs without a Service (a
// migration): the latest message of kind to each contact of the link.
func linkDeliveries(tx *bolt.Tx, linkID, kind string) []DeliveryStatus {
	prefix := []byte(linkID + "\x00")
	latest := map[string]int{}
	var out []DeliveryStatus
	c := tx.Bucket(bktLinkMsgs).Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		m, err := getMsg(tx, string(k[len(prefix):]))
		if err != nil || m.Kind != kind {
			continue
		}
		d := DeliveryStatus{MessageID: m.ID, Channel: m.Channel, To: m.To, State: m.State, Reason: m.LastError,
			Attempts: m.Attempts, Queued: m.Created, SentAt: m.SentAt, Via: m.Via}
		if m.State == stateQueued {
			d.NextAttempt = m.NextAttempt
			if m.Attempts > 0 {
				d.State = "retrying"
			}
		}
		key := m.Channel + "\x00" + m.To
		if i, ok := latest[key]; ok {
			out[i] = d
		} else {
			latest[key] = len(out)
			out = append(out, d)
		}
	}
	return out
}

// kick wakes the worker.
func (s *Service) kick() {
	s.updateQueueGauge()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

func (s *Service) updateQueueGauge() {
	s.db.View(func(tx *bolt.Tx) error {
		mQueueDepth.Set(float64(tx.Bucket(bktPending).Stats().KeyN))
		return nil
	})
}

// RunOutbox delivers queued messages, each when it is due, until ctx ends;
// a message being sent then goes back in the queue for the next run. It is
// the outbox worker of a service opened with NoWorker, run by its owner
// (`sonolink serve` runs it beside the other components). Close waits for
// it to return, so end ctx first.
func (s *Service) RunOutbox(ctx context.Context) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer s.inflight.Done()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	var pruned time.Time
	for {
		if now := time.Now(); now.Sub(pruned) >= outboxPruneEvery {
			s.pruneOutbox(now)
			s.remind()
			s.pruneAttention()
			pruned = now
		}
		next := s.deliverDue(ctx)
		if ctx.Err() != nil {
			return nil
		}
		wait := outboxPruneEvery
		if !next.IsZero() {
			wait = min(max(time.Until(next), 0), wait)
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return nil
		case <-s.wake:
		case <-timer.C:
		}
	}
}

// SendReminders queues the expiry reminder ("your images are available
// until …, save what you want to keep") of every link that is due one,
// on every channel the link went to, in the clinic's language, and
// returns how many links it reminded. A link is due once per lifetime:
// when it is active, within link.reminder of its expiry, was sent (or
// resent) before that window opened (a link sent inside it already said
// the date), and has not been reminded of this expiry. A resend gives a
// new expiry and so a new reminder later. link.reminder off sends none.
// RunOutbox calls it at start and hourly; it reads the service's clock.
func (s *Service) SendReminders() (int, error) {
	now := s.now()
	var done []string
	err := s.update(func(tx *bolt.Tx) error {
		st, err := readSettings(tx)
		if err != nil || st.LinkReminder == 0 {
			return err
		}
		var due []*linkRecord
		err = tx.Bucket(bktLinks).ForEach(func(k, _ []byte) error {
			if rec, err := s.getLink(tx, string(k)); err == nil && reminderDue(rec, st.LinkReminder, now) {
				due = append(due, rec)
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, rec := range due {
			r := s.rendererIn(st, rec.Lang)
			rec.RemindedFor = rec.Expires
			tok, err := s.keys.openBytes(rec.SealedToken, rec.ID)
			if err != nil { // not sendable; mark it so it is not tried every hour
				s.log.Warn("reminder: the link's URL cannot be read", "link", rec.ID, "error", err)
				if err := s.putLink(tx, rec); err != nil {
					return err
				}
				continue
			}
			u := s.URL(string(tok))
			for _, e := range rec.Emails {
				if err := s.enqueue(tx, rec, kindReminder, ChannelEmail, e, r.reminderEmail(u, rec.Expires)); err != nil {
					return err
				}
			}
			for _, p := range rec.Phones {
				if err := s.enqueue(tx, rec, kindReminder, ChannelSMS, p, r.reminderSMS(u, rec.Expires)); err != nil {
					return err
				}
			}
			if err := s.putLink(tx, rec); err != nil {
				return err
			}
			if err := s.audit(tx, AuditEvent{Type: EventLinkReminded, LinkID: rec.ID, StudyUID: rec.StudyUID, Actor: "auto",
				Detail: "expires " + rec.Expires.Format("2006-01-02")}); err != nil {
				return err
			}
			done = append(done, rec.ID)
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("share: expiry reminders: %w", err)
	}
	if len(done) > 0 {
		s.kick()
		s.log.Info("expiry reminders queued", "links", len(done))
	}
	return len(done), nil
}

// reminderDue reports whether rec is due its expiry reminder at now, with
// the reminder lead before expiry.
func reminderDue(rec *linkRecord, lead time.Duration, now time.Time) bool {
	if rec.Status(now) != StatusActive || len(rec.SealedToken) == 0 || rec.RemindedFor.Equal(rec.Expires) {
		return false
	}
	opens := rec.Expires.Add(-lead)
	return !now.Before(opens) && rec.LastSent.Before(opens)
}

// remind is SendReminders for the worker: it logs a failure.
func (s *Service) remind() {
	if _, err := s.SendReminders(); err != nil {
		s.log.Error("outbox: expiry reminders", "error", err)
	}
}

// pruneAttention is PruneAttention for the worker: it logs a failure.
func (s *Service) pruneAttention() {
	if _, err := s.PruneAttention(); err != nil {
		s.log.Error("attention list: pruning links that ended", "error", err)
	}
}

// outboxPruneEvery is how often RunOutbox prunes the outbox directory
// and queues expiry reminders.
const outboxPruneEvery = time.Hour

// PruneOutbox removes from the outbox directory (where the default file
// provider writes each delivered message) the files last written more than
// the clinic's outbox.retention before now, and returns how many it
// removed. They carry the patient's contact and link, and the outbox's
// index keeps the delivery status without them. A temporary file older than
// that is a crashed write's leftover and goes too. RunOutbox calls it at
// start and hourly with the real clock; tests pass their own now.
func (s *Service) PruneOutbox(now time.Time) (int, error) {
	set, err := s.Settings()
	if err != nil {
		return 0, err
	}
	cutoff := now.Add(-set.OutboxRetention)
	dir := s.OutboxDir()
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("reading the outbox directory: %w", err)
	}
	n := 0
	var errs []error
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		fi, err := e.Info()
		if err != nil || !fi.ModTime().Before(cutoff) {
			continue
		}
		if err := os.Remove(filepath.Join(dir, e.Name())); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
			continue
		}
		n++
	}
	return n, errors.Join(errs...)
}

// pruneOutbox is PruneOutbox for the worker: it logs what it did.
func (s *Service) pruneOutbox(now time.Time) {
	n, err := s.PruneOutbox(now)
	if err != nil {
		s.log.Error("outbox: pruning delivered message files", "removed", n, "error", err)
	} else if n > 0 {
		s.log.Info("outbox: delivered message files past their retention removed", "removed", n)
	}
}

// enter counts a RunOutbox or Flush call that Close waits for; it fails
// once Close has begun.
func (s *Service) enter() error {
	s.closeMu.Lock()
	defer s.closeMu.Unlock()
	if s.closed {
		return errClosed
	}
	s.inflight.Add(1)
	return nil
}

// Flush delivers every message that is due now and returns; messages
// waiting for a retry stay queued. A CLI that opened the service with
// NoWorker calls it before exiting.
func (s *Service) Flush(ctx context.Context) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer s.inflight.Done()
	s.deliverDue(ctx)
	return ctx.Err()
}

// deliverDue sends due messages one by one; it returns when the next
// message is due (zero if none is queued).
func (s *Service) deliverDue(ctx context.Context) time.Time {
	for ctx.Err() == nil {
		m, next, err := s.claim()
		if err != nil {
			s.log.Error("outbox: reading queue", "error", err)
			return time.Now().Add(5 * time.Second)
		}
		if m == nil {
			return next
		}
		s.deliver(ctx, m)
	}
	return time.Time{}
}

// claim marks the first due message "sending" and returns it, or returns
// when the next one is due.
func (s *Service) claim() (*outboxMsg, time.Time, error) {
	var got *outboxMsg
	var next time.Time
	now := time.Now()
	err := s.update(func(tx *bolt.Tx) error {
		c := tx.Bucket(bktPending).Cursor()
		for k, _ := c.First(); k != nil; k, _ = c.Next() {
			m, err := getMsg(tx, string(k))
			if err != nil || m.State != stateQueued {
				continue
			}
			if m.NextAttempt.After(now) {
				if next.IsZero() || m.NextAttempt.Before(next) {
					next = m.NextAttempt
				}
				continue
			}
			m.State = stateSending
			got = m
			return putMsg(tx, m)
		}
		return nil
	})
	return got, next, err
}

func (s *Service) deliver(ctx context.Context, m *outboxMsg) {
	var content rendered
	plain, err := s.keys.openBytes(m.Sealed, m.ID)
	if err == nil {
		err = json.Unmarshal(plain, &content)
	}
	if err != nil {
		err = delivery.Permanent(fmt.Errorf("message cannot be read: %w", err))
	} else {
		sctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		switch m.Channel {
		case ChannelEmail:
			err = s.email.SendEmail(sctx, delivery.Email{ID: m.ID, FromName: content.FromName, To: m.To,
				Subject: content.Subject, Text: content.Text, HTML: content.HTML, Inline: content.Logo, Date: time.Now()})
		case ChannelSMS:
			err = s.sms.SendSMS(sctx, delivery.SMS{ID: m.ID, To: m.To, Body: content.Text})
		default:
			err = delivery.Permanent(fmt.Errorf("unknown channel %q", m.Channel))
		}
		cancel()
	}
	shutdown := err != nil && ctx.Err() != nil
	var retryIn time.Duration
	uerr := s.update(func(tx *bolt.Tx) error {
		cur, gerr := getMsg(tx, m.ID)
		if gerr != nil {
			return gerr
		}
		now := time.Now().UTC()
		ev := AuditEvent{LinkID: cur.LinkID, StudyUID: cur.StudyUID, Channel: cur.Channel, To: contact.Mask(cur.To), Detail: cur.Kind}
		final := true
		switch {
		case shutdown:
			cur.State, final = stateQueued, false // not an attempt; the next run sends it
		case err == nil:
			cur.Attempts++
			cur.State, cur.SentAt, cur.LastError, cur.Via = stateSent, now, "", s.provider(cur.Channel)
			ev.Type = EventDeliverySent
			ev.Detail += fmt.Sprintf(", attempt %d", cur.Attempts)
		default:
			cur.Attempts++
			cur.LastError = redact(err.Error(), cur.To)
			ev.Detail += fmt.Sprintf(", attempt %d: %s", cur.Attempts, cur.LastError)
			if delivery.IsPermanent(err) || cur.Attempts >= s.opts.Backoff.MaxAttempts {
				cur.State, ev.Type = stateFailed, EventDeliveryFailed
			} else {
				retryIn = s.backoff(cur.Attempts)
				cur.State, cur.NextAttempt, ev.Type, final = stateQueued, now.Add(retryIn), EventDeliveryRetry, false
			}
		}
		if final {
			cur.Sealed, cur.NextAttempt = nil, time.Time{}
			if err := tx.Bucket(bktPending).Delete([]byte(cur.ID)); err != nil {
				return err
			}
		}
		if err := putMsg(tx, cur); err != nil {
			return err
		}
		if final && cur.Kind == kindLink {
			if rec, err := s.getLink(tx, cur.LinkID); err == nil {
				if err := noteDeliveries(tx, rec, s.now()); err != nil {
					return err
				}
			}
		}
		if ev.Type != "" {
			return s.audit(tx, ev)
		}
		return nil
	})
	if uerr != nil {
		s.log.Error("outbox: recording delivery", logid.Study(m.StudyUID), "message", m.ID, "error", uerr)
	}
	switch {
	case shutdown:
	case err == nil:
		mMessages.WithLabelValues(m.Channel, "sent").Inc()
		mLatency.WithLabelValues(m.Channel).Observe(time.Since(m.Created).Seconds())
		s.log.Info("message delivered", logid.Study(m.StudyUID), "message", m.ID, "link", m.LinkID, "kind", m.Kind, "channel", m.Channel)
	case retryIn > 0:
		mMessages.WithLabelValues(m.Channel, "retry").Inc()
		s.log.Warn("delivery failed; will retry", logid.Study(m.StudyUID), "message", m.ID, "link", m.LinkID, "channel", m.Channel, "retry_in", retryIn.Round(time.Millisecond), "error", redact(err.Error(), m.To))
	default:
		mMessages.WithLabelValues(m.Channel, "failed").Inc()
		s.log.Error("delivery failed for good", logid.Study(m.StudyUID), "message", m.ID, "link", m.LinkID, "channel", m.Channel, "error", redact(err.Error(), m.To))
	}
	s.updateQueueGauge()
}

// provider names the provider a channel's messages go to: "file" when
// none is configured.
func (s *Service) provider(channel string) string {
	p := s.opts.Delivery.SMS.Provider
	if channel == ChannelEmail {
		p = s.opts.Delivery.Email.Provider
	}
	if (channel == ChannelEmail && s.opts.EmailSender != nil) || (channel == ChannelSMS && s.opts.SMSSender != nil) {
		return "custom" // Options' own sender replaced the provider
	}
	if p == "" {
		return ProviderFile
	}
	return p
}

// ProviderFile is the provider that writes messages to the local outbox
// directory instead of sending them.
const ProviderFile = "file"

// backoff is Initial·2^(attempt-1), at most Max, with ±20 % jitter.
func (s *Service) backoff(attempt int) time.Duration {
	d := s.opts.Backoff.Initial
	for i := 1; i < attempt && d < s.opts.Backoff.Max; i++ {
		d *= 2
	}
	d = min(d, s.opts.Backoff.Max)
	return time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
}

// redact hides a contact inside a provider's error text (providers echo
// the recipient), so logs and the audit log do not carry it.
func redact(s, to string) string {
	if to == "" {
		return s
	}
	for _, v := range []string{to, url.QueryEscape(to), strings.TrimPrefix(to, "+")} {
		if v != "" {
			s = strings.ReplaceAll(s, v, contact.Mask(to))
		}
	}
	return s
}
