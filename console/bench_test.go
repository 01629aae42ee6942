package console

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"sonolink/store"
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

// BenchmarkAttentionPage renders the attention list of an archive of
// 10,000 studies (index entries loaded in bulk, without files) of which
// three need attention: its cost follows what is listed, not the archive.
func BenchmarkAttentionPage(b *testing.B) {
	const studies = 10000
	f := newFixtureWith(b, 1, func(st *store.Store) {
		objs := make([]store.BulkObject, 0, studies)
		now := time.Now()
		for i := 1; i <= studies; i++ {
			uid := fmt.Sprintf("1.8.%d", i)
			objs = append(objs, store.BulkObject{Instance: store.Instance{SOPInstanceUID: uid + ".1.1", StudyUID: uid, SeriesUID: uid + ".1",
				InstanceNumber: 1, ReceivedAt: now.Add(time.Duration(i) * time.Second), Render: &store.Render{Frames: 1}},
				Patient: store.Patient{Name: fmt.Sprintf("Later^L%05d", i), ID: fmt.Sprintf("L%d", i)}, Date: "20261125"})
		}
		if err := st.LoadUnsynced(objs); err != nil {
			b.Fatal(err)
		}
	}, nil)
	cookie, _ := f.login("tech", techPW, "10.0.0.1")
	b.ResetTimer()
	for b.Loop() {
		if w := f.do("GET", "/attention", "10.0.0.1", cookie, nil); w.Code != http.StatusOK {
			b.Fatal(w.Code)
		}
	}
}
