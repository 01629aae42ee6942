// Package dimse is sonolink's DICOM network side: the upper layer protocol
// (PS3.8: PDUs, association negotiation, ARTIM) and the DIMSE services it
// offers (PS3.7: C-ECHO and C-STORE as SCP; C-ECHO and C-STORE as SCU for
// the `echo` command and tests). Incoming objects are streamed to a spool
// file and handed to a Handler; the response is sent only after the Handler
// has made the object durable.
package dimse
