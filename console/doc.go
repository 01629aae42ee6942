// Package console is the clinic staff's web console: find a study, see its
// thumbnails as the patient sees them, send, resend and revoke links, the
// studies that need attention, and (administrators) the clinic settings.
//
// It is server-rendered (html/template, one small stylesheet, no script) and
// runs on its own listener (sonolink serve --staff-addr), never on the
// patient port. Every operation goes through the admin package's Service,
// the same code the CLI calls, with the actor "staff:NAME", so the console
// and the CLI behave alike and the audit log names the person.
//
// # Guarantees
//
//   - Accounts live in <data-dir>/staff.db (bbolt), opened only for the
//     moment of a read or a change, so `sonolink staff` works while serve
//     runs. Passwords are hashed with argon2id (RFC 9106, second recommended
//     option: t=3, m=64 MiB, p=4, 16-byte salt, 32-byte tag) and compared in
//     constant time. At most two hashes are computed at once.
//   - No page but the login page answers without a session. Session ids
//     are 256 random bits; the server keeps only their SHA-256. Sessions end
//     after 30 minutes idle or 12 hours in all, and when the account is
//     disabled or its password or role changes.
//   - Sessions survive a restart: staff.db's "sessions" bucket has a row
//     per session holding only the SHA-256 of its id, the account, the
//     account's generation, the role and the start time; never the id, the
//     last search (patient names) or the last page view. A row is written
//     (one fsync) at login and removed when the session ends (at logout, or
//     by the first request or login that finds it over); the idle timer is
//     in memory only, so page views write nothing, and after a restart the
//     idle time counts from the restart, while the 12 hours still count
//     from the login. At start, rows past 12 hours or of a disabled or
//     changed account are dropped; a damaged file is a warning and everyone
//     logs in again. `sonolink staff disable|passwd` remove the account's
//     rows in the same transaction, and serve, which re-reads staff.db when
//     it changes, ends the sessions at their next request. The CSRF token is
//     not stored: it is an HMAC keyed by the session id.
//   - Logins (and wrong passwords, and the wait they start), logouts and
//     account changes (`sonolink staff add|disable|passwd`) are in share's
//     audit log as staff.* events naming the person and the client
//     address, never a password.
//   - The session cookie is HttpOnly and SameSite=Strict, and Secure when
//     the console is reached over TLS or through a trusted proxy that says
//     https. On plain HTTP (the loopback default) it cannot be Secure: the
//     browser would not send it back; keep plain HTTP to loopback or the
//     clinic's own network.
//   - Every POST carries the session's CSRF token and an Origin (or
//     Referer) of the console itself; otherwise it is refused (403).
//   - Wrong passwords slow down the (account, client address) pair that
//     typed them, with a doubling wait; the account stays usable from
//     every other address, so an outsider cannot lock a colleague out.
//   - No patient data in URLs: searches are POSTed and kept in the session;
//     studies are addressed by their short id, links by their link id, the
//     pages of the list by their number.
//   - Dates are the clinic's language's long form, times on the clinic's
//     clock (clinic.timezone), as the patient pages and messages have them.
package console
