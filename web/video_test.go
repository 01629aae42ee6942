package web

import (
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"sonolink/internal/testdicom"
	"sonolink/render"
	"sonolink/share"
	"sonolink/store"
)

// A video object (its MP4 is its only animation) shows as a video tile
// with its duration, and its tile opens the MP4, not a GIF it lacks.
func TestVideoObjectTile(t *testing.T) {
	fx := newFixture(t, nil)
	const tok = "VideoObjTokenGGGGGGGGGGGGGGGGGGGGGGGGGGGGGGG"
	items := study(2, map[int]int{2: 20})
	items[1].FrameTimeMS, items[1].Video, items[1].VideoOnly = 100, true, true // 2 s
	fx.b.add(tok, &fakeLink{link: Link{ID: "L-vobj"}, items: items})
	_, body := fx.get(t, "/p/"+tok)
	i := strings.Index(body, `data-video="`)
	if i < 0 {
		t.Fatalf("no video tile on the page:\n%s", body)
	}
	tile := body[strings.LastIndex(body[:i], "<a "):]
	tile = tile[:strings.Index(tile, "</a>")]
	if !strings.Contains(tile, `href="/p/`+tok+`/i/2/loop.mp4"`) || !strings.Contains(tile, `data-video="/p/`+tok+`/i/2/loop.mp4"`) || strings.Contains(tile, "loop.gif") {
		t.Errorf("video tile does not open the MP4:\n%s", tile)
	}
	if !strings.Contains(tile, "0:02") {
		t.Errorf("video tile without its duration 0:02:\n%s", tile)
	}
}

// Through the real StoreBackend: a video object, residual with the video
// reason and rendered as the pipeline records it, puts the link behind the
// password and is listed as a video with its MP4.
func TestStoreBackendVideoObject(t *testing.T) {
	dir := t.TempDir()
	log := slog.New(slog.DiscardHandler)
	st, sh := openStoreShare(t, dir, log)
	const studyUID = "1.2.826.0.1.3680043.10.4242.8"
	p := filepath.Join(st.SpoolDir(), "v.dcm")
	testdicom.WriteFile(t, p, testdicom.Spec{PatientName: "Pat^Test", PatientID: "P8", StudyUID: studyUID, StudyDate: "20261101",
		SeriesUID: studyUID + ".1", SOPUID: studyUID + ".1.1", SeriesNumber: "1", InstanceNumber: 1,
		SOPClassUID: "1.2.840.10008.5.1.4.1.1.77.1.4.1", TransferSyntax: "1.2.840.10008.1.2.4.102",
		Rows: 240, Columns: 320, Frames: 20, FrameTimeMS: 100,
		Fragments: [][]byte{{0, 0, 0, 1, 0x67, 0x64}}})
	res, err := st.Ingest(p, store.Source{})
	if err != nil {
		t.Fatal(err)
	}
	sop := res.Instance.SOPInstanceUID
	if err := st.SetDeid(sop, store.Deid{Path: store.DeidName, Reasons: []string{"video (H.264): burned-in text cannot be removed from video; shown behind the password"}}); err != nil {
		t.Fatal(err)
	}
	if err := st.SetRender(sop, store.Render{Frames: 20, FrameTimeMS: 100, Width: 320, Height: 240,
		Thumbnail: render.ThumbnailName, FramePattern: render.FramePattern, Video: render.VideoName}); err != nil {
		t.Fatal(err)
	}
	_, url, err := sh.Create(context.Background(), share.CreateRequest{StudyUID: studyUID, Emails: []string{"pat@example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	b := NewStoreBackend(sh, st)
	l, err := b.Link(context.Background(), url[strings.LastIndex(url, "/")+1:])
	if err != nil {
		t.Fatal(err)
	}
	if !l.NeedsPassword {
		t.Error("a residual video is shown without the password")
	}
	items, err := b.Items(context.Background(), l.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(items) != 1 || items[0].Kind != "cine" || !items[0].Video || !items[0].VideoOnly || !items[0].Residual || items[0].Frames != 20 || items[0].FrameTimeMS != 100 {
		t.Errorf("items %+v, want one residual video of 20 frames of 100 ms", items)
	}
}
