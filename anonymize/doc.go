// Package anonymize makes the de-identified copy of an object (PS3.15 Annex E
// Basic Application Level Confidentiality Profile, pixel data included) and
// decides whether that copy is clean or residual.
package anonymize
