// Package dimse is sonolink's DICOM network side: the upper layer protocol
// (PS3.8: PDUs, association negotiation, ARTIM) and the DIMSE services it
// offers (PS3.7: C-ECHO and C-STORE as SCP; C-ECHO and C-STORE as SCU for
// the `echo` command and tests; the Storage Commitment Push Model as SCP,
// see stgcmt.go, with Config.Commitment holding its policy; Modality
// Performed Procedure Step N-CREATE and N-SET as SCP, see mpps.go, with
// Config.MPPS keeping the steps). Incoming objects are streamed to a spool
// file and handed to a Handler; the response is sent only after the Handler
// has made the object durable.
//
// # Negotiation
//
// An A-ASSOCIATE-RQ is rejected (A-ASSOCIATE-RJ, PS3.8 9.3.4) when the peer
// address is outside Config.AllowedPeers (permanent, service user, reason 1
// no reason given), the protocol version is unsupported (permanent, ACSE
// provider, reason 2), the application context is not the DICOM one
// (permanent, service user, reason 2), the called AE title is not one of
// Config.AETitles (permanent, service user, reason 7), the calling AE title
// is not in Config.AllowedCallingAETs (permanent, service user, reason 3), or
// MaxAssociations are already open (transient, presentation provider,
// reason 2 local limit exceeded). Each presentation context is answered on
// its own: Verification, Storage Commitment and MPPS (when configured,
// native Little Endian only) and the storage SOP classes (by default every one of
// PS3.4 Annex B, Config.SOPClasses narrows it) are accepted with the first
// transfer syntax the peer proposed that sonolink can de-identify and render
// (the peer's order, not ours; native only for classes without an image),
// else with the first it can store as received (JPEG 2000, JPEG-LS, video:
// kept, not rendered); others get "abstract syntax not supported" (3) or
// "transfer syntaxes not supported" (4), logged with the syntaxes by name,
// and the rest of the association proceeds. Several contexts for one
// abstract syntax are each accepted with their own syntax, so the peer sends
// what it holds as it holds it. A role selection sub-item for an accepted
// class is answered with the SCU role the requester proposed; the SCP role
// only for Storage Commitment, where it commits sonolink to nothing
// (answerRoles); asynchronous operations window and
// extended negotiation sub-items are accepted and ignored (one operation at
// a time); a user identity is not checked,
// but a request for a positive response gets one (PS3.7 D.3.3.7). Called AE
// titles compare without their padding spaces; a configured one in lower
// case is an error (NewServer).
//
// # Limits and timeouts
//
// Every PDU is read into one reused buffer that grows only as bytes actually
// arrive (up to the largest PDU received), and a declared length above max(MaxPDULength, 64 KiB) aborts the
// association before anything is allocated. A data set is written to the
// spool file as its fragments arrive, so memory per association is about one
// PDU whatever the object's size. ARTIMTimeout bounds the wait for the
// A-ASSOCIATE-RQ and for the peer to close after A-RELEASE-RP; IdleTimeout
// bounds the wait for each PDU (so slow but steady transfers are fine), each
// write, and the handler (its ctx deadline). A malformed or unexpected PDU
// aborts that association only (A-ABORT, source 2, with the matching reason)
// and is logged with the peer address, AE titles and what was wrong.
//
// # TLS
//
// ServeTLS takes DICOM over TLS (PS3.15 Annex B) on a listener of its own,
// beside those given to Serve: one server, one handler, one count of
// associations. TLSConfig gives the BCP 195 profile (TLS 1.2 with ECDHE and
// an AEAD, or TLS 1.3) and, with a client CA, requires a client certificate
// it signed. The handshake runs before the A-ASSOCIATE-RQ is read and is
// bounded by ARTIMTimeout; a failed one is logged with the peer address and
// the reason, and counted as tls_handshake in the failures metric.
//
// # Spool files
//
// A C-STORE data set is written as a complete DICOM Part 10 file in
// Config.SpoolDir (name rx-<association ID>-<random>.dcm): preamble, "DICM",
// File Meta Information (Media Storage SOP Class/Instance from the command,
// the negotiated transfer syntax, ImplementationClassUID,
// ImplementationVersionName, Source AE Title = calling AE), then the data set
// bytes exactly as received. It is written in 256 KiB chunks by a goroutine
// of its own, which also hashes the data set (Object.DatasetSHA256) and
// starts each chunk's write-back to disk (sync_file_range on Linux). On
// Linux a third goroutine flushes what has been written (fdatasync) while
// the rest arrives, so the handler's fsync after the last fragment, which
// the modality waits for, has only the tail left to write and flush; the
// handler waits for that flush too (Object.Flushed). Objects above MaxObjectSize
// and spool write errors are drained and answered with A700 without calling
// the handler; a handler panic is answered with 0110. The handler checks the
// data set against the request: a data set whose SOP Class or SOP Instance
// UID is not the Affected one is not stored and answered with A900 (data set
// does not match SOP class, as DCMTK's storescp does) and an Error Comment
// saying so, never with Success for an object that is not there. Whatever the outcome,
// the spool file is removed after the handler returns unless the handler
// renamed it away. Files left by a crash are the store's to remove at start.
//
// # Metrics
//
// Registered on prometheus.DefaultRegisterer: sonolink_dimse_associations_total
// {result=accepted|rejected|aborted}, sonolink_dimse_associations_active,
// sonolink_dimse_objects_received_total{status=success|warning|failure},
// sonolink_dimse_bytes_received_total, sonolink_dimse_failures_total{reason},
// sonolink_dimse_store_latency_seconds (last fragment received to response
// sent, handler included) and sonolink_dimse_association_duration_seconds.
// Labels never carry UIDs or AE titles.
//
// Log lines carry the association ID, peer address, AE titles, SOP class,
// transfer syntax, sizes and statuses; never patient data or instance UIDs.
package dimse
