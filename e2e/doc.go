// Package e2e holds the end-to-end tests: they build the sonolink binary and
// drive it as its users do, a scanner over DICOM (DCMTK and other real
// senders), a patient in headless Chromium, and a technician on the command
// line, then look at what reached the data directory, the outbox and the log.
package e2e
