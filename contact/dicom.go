package contact

import (
	"fmt"

	"github.com/suyashkumar/dicom"
	"github.com/suyashkumar/dicom/pkg/tag"

	"sonolink/dicom/dicomfile"
)

// DefaultTags are where the technician types the patient's contact on the
// scanner, read in this order: Patient's Telecom Information (0010,2155),
// Patient's Telephone Numbers (0010,2154), Patient Comments (0010,4000).
var DefaultTags = []tag.Tag{{Group: 0x0010, Element: 0x2155}, {Group: 0x0010, Element: 0x2154}, {Group: 0x0010, Element: 0x4000}}

// DefaultTagStrings is DefaultTags written "gggg,eeee", as flags take them.
func DefaultTagStrings() []string {
	out := make([]string, len(DefaultTags))
	for i, t := range DefaultTags {
		out[i] = fmt.Sprintf("%04X,%04X", t.Group, t.Element)
	}
	return out
}

// FromDataset returns the non-empty values of tags (DefaultTags when nil) in
// a DICOM header, in order: the raw text to give to ParseAll.
func FromDataset(ds *dicom.Dataset, tags []tag.Tag) []string {
	if ds == nil {
		return nil
	}
	if tags == nil {
		tags = DefaultTags
	}
	var out []string
	for _, t := range tags {
		for _, v := range dicomfile.Strings(ds, t) {
			if v != "" {
				out = append(out, v)
			}
		}
	}
	return out
}
