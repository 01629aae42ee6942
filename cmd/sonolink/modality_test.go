package main

import (
	"reflect"
	"testing"
)

// --modality takes AET=HOST:PORT and refuses anything it could not call.
func TestParseModalities(t *testing.T) {
	got, err := parseModalities([]string{"LOGIQ1=10.0.0.21:104", " EPIQ2 = scanner.clinic.example:11112 "})
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]string{"LOGIQ1": "10.0.0.21:104", "EPIQ2": "scanner.clinic.example:11112"}; !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	for _, bad := range []string{"LOGIQ1", "LOGIQ1=10.0.0.21", "=10.0.0.21:104", "LOGIQ1=10.0.0.21:0", "LOGIQ1=10.0.0.21:http", "LOGIQ1=:104", "AN_AE_TITLE_TOO_LONG=h:1"} {
		if _, err := parseModalities([]string{bad}); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
