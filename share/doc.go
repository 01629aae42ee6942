// Package share turns stored studies into patient links: link tokens, the
// outbox that delivers them by e-mail and SMS, resend/revoke, passwords and
// link codes, the clinic settings' storage (their keys, parsing and
// defaults are package settings'), and the audit log. Contacts are parsed
// by the contact package; the providers messages are handed to live in
// delivery.
//
// Everything is kept in DATA/share.db (bbolt; one process at a time) with a
// secret in DATA/share.key (0600). A link's token is 32 random bytes
// (base64url, 43 characters); share.db indexes it only by SHA-256. To
// resend the same URL, the token is also kept sealed with AES-256-GCM under
// share.key and is deleted when the link is revoked. Queued message bodies
// are sealed the same way and dropped once delivered. Messages go to
// DATA/outbox/<message id>.eml / .sms unless a provider is configured.
// share.db also keeps what the auto-share rule decided for each complete
// study (RecordAutoShareDecision), so a restart does not decide it again.
//
// Link code rule: while a clinic code is set, every link asks for one and
// accepts the code in force when it was issued as well as the current
// code; clearing the code removes the prompt from every link.
package share
