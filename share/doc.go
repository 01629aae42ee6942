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
// study (RecordAutoShareDecision), so a restart does not decide it again,
// and two small attention indexes for the staff's "needs attention" list
// (attention.go): the studies auto-share found no usable contact for, and
// the links whose delivery failed. When retention purges a study,
// ForgetStudy removes its links, token hashes, sealed tokens, contact and
// attention entries and outbox records (and message files) in one
// transaction with the audit entry, never while a link is live, and once
// per purge.
//
// Link code rule: while a clinic code is set, a link issued while a code
// was in force asks for one (every active link does with link.code_scope
// all) and accepts the code in force when it was issued as well as the
// current code; a link issued without a code (including every link from
// before codes were recorded per link) opens without one, since its
// patient was never told a code. Clearing the code removes the prompt
// from every link.
//
// # Threat model of the gates
//
// Who holds what:
//   - The patient holds the link (an SMS or e-mail), the contacts it went
//     to, the clinic's link code (told at the visit) and, once chosen, a
//     password.
//   - An attacker may hold the link too (a shared phone, a forwarded
//     message, a shoulder): everything that does not need the link code
//     or the password, but not the patient's phone or mailbox, so never a
//     one-time code. The attacker may use several addresses.
//   - The clinic's staff hold share.db and share.key (what the admin
//     socket and the CLI reach); they are trusted.
//
// What each can do, and what keeps it so:
//   - Guess a secret (password, link code, one-time code). Each wrong try
//     counts against its source, an address as the pages see it (see
//     web.Config.ClientAddr and --trusted-proxy): FreeFailures are free,
//     then each doubles the wait before that source's next try, from
//     FirstDelay to MaxDelay; tries during the wait are not checked at all.
//     That is about a hundred tries a day per source. A link with
//     LinkCeiling wrong tries a day slows every source (new ones too) to a
//     try every FailureDelay(CeilingFailures), so a crowd of addresses
//     gains little per address. A one-time code dies after OTPMaxAttempts
//     wrong guesses and OTPLifetime, and at most OTPSendsPerLink are sent a
//     day: at most a few dozen guesses a day at a million values.
//   - Keep the patient out. Nothing locks a link: failures slow their own
//     source, and the right secret is accepted from any source whose wait is
//     over (at once from one that has not failed). Past the link's ceiling
//     the patient waits at most FailureDelay(CeilingFailures) once. Only a
//     patient sharing the attacker's address (same NAT, no trusted proxy
//     header) waits up to MaxDelay between tries. An attacker with more
//     than OTPSendsPerLink/OTPSendsPerSource addresses can use up a day's
//     code messages; the patient then waits for the next (the page says
//     when) or calls the clinic. Remembering at most MaxSources sources per
//     link, an attacker with more addresses than that can make the link
//     forget one, which then starts again from FreeFailures.
//   - Message the patient through sonolink. Only to the link's own
//     contacts, only one-time codes, at most OTPSendsPerSource per source
//     and OTPSendsPerLink per link a day, whether for the password or,
//     on an expired link with link.self_renew on, for a new link
//     (selfrenew.go): the new link's own message goes out only after the
//     code sent to one of those contacts was typed back.
//   - Learn who the patient is. Sources are kept as HMACs under share.key,
//     per link; contacts are shown masked; the audit log holds no secret.
package share
