package console

import (
	"net/http"
	"testing"
)

// BenchmarkStudyPage renders the study page of a 30-object study in
// process (the end-to-end figure, beside the patient landing page, is
// bench/console_test.go's).
func BenchmarkStudyPage(b *testing.B) {
	f := newFixture(b, 30)
	cookie, _ := f.login("tech", techPW, "10.0.0.1")
	b.ResetTimer()
	for b.Loop() {
		if w := f.do("GET", "/study/"+f.study, "10.0.0.1", cookie, nil); w.Code != http.StatusOK {
			b.Fatal(w.Code)
		}
	}
}
