// Package layout holds no code, only the test that keeps the folder tree
// honest: it lists which top-level package may import which, so the import
// graph follows the data flow
//
//	dimse → pipeline → store → anonymize → render → share → web
//
// with dicom/ as the DICOM framework under all of them, and cmd/sonolink
// as the only place that wires everything together.
//
// The rules, checked on `go list -deps` of every package:
//   - No package reaches into another folder's subtree: sonolink/web may
//     import sonolink/share, never a sub-package of share. The exceptions
//     are dicom/, a folder of independent framework packages with no
//     package of its own, and internal/, which Go itself guards.
//   - The framework (dicom/*) and the network layer (dimse) import nothing
//     of the application.
//   - Production code never imports the test helpers (internal/testenv,
//     internal/testdicom).
//   - Each top-level package imports only what its row in the table below
//     allows; a new edge is a design decision, made by editing the table.
package layout
