package render

import (
	"bytes"
	"io"
	"path/filepath"
	"testing"

	"sonolink/dicom/dicomfile"
	"sonolink/internal/testenv"
)

// File reads frames from the file one at a time; it must write exactly
// what Object writes for the same object parsed into memory.
func TestFileRendersAsObject(t *testing.T) {
	for _, p := range testenv.SampleFiles(t, "us") {
		t.Run(filepath.Base(p), func(t *testing.T) {
			ds, err := dicomfile.ReadFile(p)
			if err != nil {
				t.Skip(err)
			}
			put := func(m map[string][]byte) func(string, func(io.Writer) error) error {
				return func(name string, write func(io.Writer) error) error {
					var b bytes.Buffer
					err := write(&b)
					m[name] = b.Bytes()
					return err
				}
			}
			mem, file := map[string][]byte{}, map[string][]byte{}
			o1, err1 := Object(ds, put(mem))
			o2, err2 := File(p, put(file))
			if (err1 == nil) != (err2 == nil) {
				t.Fatalf("Object: %v; File: %v", err1, err2)
			}
			if err1 != nil {
				return
			}
			if *o1 != *o2 || len(mem) != len(file) {
				t.Fatalf("File wrote %+v (%d files), Object %+v (%d files)", *o2, len(file), *o1, len(mem))
			}
			for name, b := range mem {
				if !bytes.Equal(b, file[name]) {
					t.Errorf("%s differs", name)
				}
			}
		})
	}
}
