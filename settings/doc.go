// Package settings is the one registry of the clinic's settings: the
// settings staff change while sonolink runs (`sonolink settings`). Every
// key is declared once, in registry.go, with its default, its description,
// how a person's input is parsed and validated, how it is kept, and how
// it is shown.
//
// Guarantees:
//
//   - A key not declared here is refused with ErrUnknown, naming the keys
//     that exist. A value the key does not accept is refused with an
//     *InvalidError (errors.Is ErrInvalid) that names the key and says what
//     is allowed; nothing is stored.
//   - An empty value clears a key: it is removed and its default applies
//     again. Every key can be cleared, and the defaults are parsed by the
//     same code as a person's input, so a default is always valid.
//   - What Parse returns to store, Decode reads back to the same value:
//     parse, store, decode and format round-trip. A stored value Decode
//     cannot read is an error naming the key, never a silent default.
//   - Secrets are never shown: the link code is kept only as a hash and
//     shown as "set"; audit text for it says "set" or "cleared".
//
// The package keeps nothing itself. share persists the stored values in
// share.db and calls the registry to parse, decode and format them; the
// message catalogue (languages, message names, template checks) and the
// link code hash are share's, and are handed to New.
package settings
