// Package anonymize makes the de-identified copy of an object (PS3.15 Annex E
// Basic Application Level Confidentiality Profile, pixel data included) and
// decides whether that copy is clean or residual.
//
// # Policy: fail closed
//
// A copy is called clean only when every step below succeeded and found
// nothing; anything else makes it residual, and a residual object is shown
// to the patient only behind the password they set after a one-time code.
// When in doubt, the answer is residual, never clean.
//
//  1. Attributes: every element is handled by its row of PS3.15 Table
//     E.1-1 (the edition is TableEdition), with the options the clinic
//     chose (Options: retain or shift dates, retain patient
//     characteristics, keep listed safe private attributes). Private
//     attributes not listed as safe, overlays and curves are removed; UIDs
//     are replaced by a keyed mapping (Secret), so the copies of one study
//     still belong together. Attributes the table does not list are kept
//     and left to step 3.
//  2. Pixels: burned-in text is blacked out outside the ultrasound regions
//     (Sequence of Ultrasound Regions), in every encoding dicom/pixels can
//     decode and re-encode without further loss. An image whose pixels
//     cannot be cleaned (no regions, a secondary capture, an encoding we do
//     not decode) is residual with the reason.
//  3. Verification: the written copy is parsed again and searched, as
//     parsed values and as raw bytes (all but the value of native Pixel
//     Data, which holds samples, not text, and is never kept in memory;
//     encapsulated frames are searched in their JPEG comment and
//     application segments), for every identifying value of the
//     original (names, IDs, birth date, addresses, phone numbers, e-mail
//     addresses, institution, device, original UIDs), in UTF-8 and the
//     original's character set. Any hit makes the copy residual
//     ("verification: patient ID found"); the value itself is never
//     printed.
//
// Content that is the patient's own record cannot be cleaned by a table
// and is residual by kind: structured reports (SR), encapsulated PDF and
// other encapsulated documents. A DICOMDIR is refused (ErrDICOMDIR).
//
// An error from File or Dataset means no usable copy was written (File
// writes the copy as it makes it: what it wrote must be discarded); the
// caller (the pipeline) then records the object as residual. Verdict
// reasons never carry patient data, so they can be logged and shown to the
// technician.
package anonymize
