// Package store keeps every received object durably: files on disk (spool
// file renamed into place; file, directory and index flushed together, see
// pending.go), and a bbolt index patient → study → series → instance. It also keeps the de-identified copies
// and renders made from each object.
//
// Layout of the data directory:
//
//	index.db                      bbolt index (one process at a time: Open fails with ErrInUse)
//	objects/<kk>/<key>-<hash>.dcm received files, unchanged (key = InstanceKey(SOP UID), hash = content)
//	derived/<key>/<name>          de-identified copies and renders (PutDerived)
//	spool/                        incoming files, emptied at every Open
//	tmp/                          temporary files of atomic writes, emptied at every Open
//
// Start-up does work in proportion to what was in flight, never to the
// archive: it empties spool/ and tmp/ and checks the objects whose flushes
// a crash may have caught (pending markers, see pending.go); it never lists
// objects/ or derived/, nor every study: what the pipeline has left to do
// is kept as it changes in small durable sets (inflight.go), and a search
// index of a new layout is built in the background (search.go); and
// index.db writes its free list at every commit, so bbolt's Open does not
// read every page after a crash (freelistSync). The full
// check of the index against the files and of the files against the index
// is the scrub (Scrub, Scrubber): small
// batches at low priority, yielding to ingest, resumed after a restart
// where it stopped, its findings logged, counted (sonolink_store_scrub_*)
// and kept (LastScrub). A file renamed into place whose index commit a
// crash prevented was never acknowledged: a resend replaces it, and the
// scrub indexes it (or removes it when it is not whole) otherwise.
//
// Ingest acknowledges an object only once its file and its index entry are
// durable. Every file is checked by dicomfile.Check before it is parsed.
// Ingest errors wrap ErrInvalidObject (resending will not help) or
// ErrStorage (the sender may retry) together with their cause; store knows
// no DICOM statuses (the pipeline maps these errors to them). Log lines name
// studies and objects as every component does (internal/logid), never by
// patient data or UIDs.
package store
