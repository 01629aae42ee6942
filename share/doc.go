// Package share turns stored studies into patient links: contacts read from
// DICOM, link tokens, the outbox that delivers them by e-mail and SMS,
// resend/revoke, passwords and link codes, and the audit log.
package share
