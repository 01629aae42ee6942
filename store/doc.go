// Package store keeps every received object durably: files on disk written by
// temp file + fsync + rename + directory fsync, and a bbolt index
// patient → study → series → instance. It also keeps the de-identified copies
// and renders made from each object.
package store
