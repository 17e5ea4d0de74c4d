package preview

import (
	"bytes"
	"context"
	"encoding/json"
	"image"
	"image/color"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/boostgen/boostgen/gen"
	"github.com/boostgen/boostgen/gen/dataset"
	"github.com/boostgen/boostgen/internal/blob"
	"github.com/boostgen/boostgen/internal/blob/s3/s3test"
)

var cardID = regexp.MustCompile(`<article class="card" id="rec-[^"]*" data-id="([^"]*)"`)

// pageIDs lists the records a page shows, in order.
func pageIDs(t *testing.T, page string) []string {
	t.Helper()
	b, err := os.ReadFile(page)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, m := range cardID.FindAllStringSubmatch(string(b), -1) {
		ids = append(ids, m[1])
	}
	return ids
}

// datasetIDs lists a dataset's records in order.
func datasetIDs(t *testing.T, store blob.Store) []string {
	t.Helper()
	ctx := context.Background()
	m, err := dataset.ReadManifest(ctx, store)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	if err := dataset.Records(ctx, store, m, func(e *dataset.Entry) error { ids = append(ids, e.Record.ID); return nil }); err != nil {
		t.Fatal(err)
	}
	return ids
}

func TestBuildSampling(t *testing.T) {
	dir, _ := testDataset(t)
	ctx := context.Background()
	store, err := blob.Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	all := datasetIDs(t, store)
	pos := map[string]int{}
	for k, id := range all {
		pos[id] = k
	}
	build := func(n int, seed uint64) []string {
		out := t.TempDir()
		res, err := Build(ctx, store, Options{N: n, Seed: seed, Out: out, NoCards: true})
		if err != nil {
			t.Fatal(err)
		}
		ids := pageIDs(t, res.Page)
		if res.Cards != len(ids) || res.Records != len(all) {
			t.Fatalf("result says %d cards of %d records; page has %d cards, dataset %d records", res.Cards, res.Records, len(ids), len(all))
		}
		for k, id := range ids {
			if _, ok := pos[id]; !ok {
				t.Fatalf("page shows %s, which is not in the dataset", id)
			}
			if k > 0 && pos[id] <= pos[ids[k-1]] {
				t.Fatalf("page order %v is not the dataset's", ids)
			}
		}
		return ids
	}
	a, again, other := build(6, 1), build(6, 1), build(6, 2)
	tests := []struct {
		name string
		ok   bool
	}{
		{"n records shown", len(a) == 6},
		{"same seed, same records", strings.Join(a, ",") == strings.Join(again, ",")},
		{"another seed, other records", strings.Join(a, ",") != strings.Join(other, ",")},
		{"n above the dataset's size shows every record", strings.Join(build(len(all)+10, 3), ",") == strings.Join(all, ",")},
	}
	for _, tt := range tests {
		if !tt.ok {
			t.Errorf("%s: failed (seed 1: %v, again: %v, seed 2: %v)", tt.name, a, again, other)
		}
	}
}

// writeDataset writes recs as a one-shard uncompressed dataset in a new
// folder, with the images they name copied from src.
func writeDataset(t *testing.T, src string, recs []gen.Record) string {
	t.Helper()
	dir := t.TempDir()
	var body bytes.Buffer
	for _, r := range recs {
		b, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		body.Write(append(b, '\n'))
		e := dataset.Entry{Record: r}
		for _, key := range e.Images() {
			data, err := os.ReadFile(filepath.Join(src, filepath.FromSlash(key)))
			if err != nil {
				continue // a deliberately bad key
			}
			os.MkdirAll(filepath.Dir(filepath.Join(dir, key)), 0o755)
			os.WriteFile(filepath.Join(dir, key), data, 0o644)
		}
	}
	os.WriteFile(filepath.Join(dir, "part-00000.jsonl"), body.Bytes(), 0o644)
	m := gen.Manifest{Shards: []gen.ShardInfo{{Path: "part-00000.jsonl", Records: len(recs)}}, Totals: gen.Totals{Records: len(recs), Items: len(recs)}}
	b, _ := json.Marshal(m)
	os.WriteFile(filepath.Join(dir, gen.ManifestFile), b, 0o644)
	return dir
}

func firstRecord(t *testing.T, dir string) gen.Record {
	t.Helper()
	ctx := context.Background()
	store, _ := blob.Open(ctx, dir)
	m, err := dataset.ReadManifest(ctx, store)
	if err != nil {
		t.Fatal(err)
	}
	var rec *gen.Record
	dataset.Records(ctx, store, m, func(e *dataset.Entry) error {
		if rec == nil {
			rec = &e.Record
		}
		return nil
	})
	return *rec
}

// TestBuildRejectsBadInput: what cannot be drawn is refused with an error
// that names the file, the record and the field.
func TestBuildRejectsBadInput(t *testing.T) {
	dir, _ := testDataset(t)
	good := firstRecord(t, dir)
	mutate := func(f func(r *gen.Record)) string {
		r := good
		r.Meta.Objects = append([]gen.ObjectMeta(nil), good.Meta.Objects...)
		f(&r)
		return writeDataset(t, dir, []gen.Record{r})
	}
	tests := []struct {
		name    string
		dataset string
		n       int
		want    []string
	}{
		{"no manifest", t.TempDir(), 5, []string{"manifest.json"}},
		{"n of zero", dir, 0, []string{"--n 0"}},
		{"image key leaving the folder", mutate(func(r *gen.Record) { r.Image = "../../etc/passwd" }), 5, []string{"part-00000.jsonl line 1", good.ID, `image key "../../etc/passwd"`}},
		{"missing image", mutate(func(r *gen.Record) { r.Image = "images/00/missing.png" }), 5, []string{good.ID, "images/00/missing.png"}},
		{"pose not rigid", mutate(func(r *gen.Record) { r.Meta.Frame.CanonicalFromCamera[0][0] = 3 }), 5, []string{good.ID, "meta.frame.canonical_from_camera", "orthonormal"}},
		{"no intrinsics", mutate(func(r *gen.Record) { r.Meta.Frame.Intrinsics.Fx = 0 }), 5, []string{good.ID, "meta.frame.intrinsics"}},
		{"anchor out of range", mutate(func(r *gen.Record) { r.Meta.Frame.AnchorView = 3 }), 5, []string{good.ID, "anchor_view 3"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			store, err := blob.Open(ctx, tt.dataset)
			if err != nil {
				t.Fatal(err)
			}
			_, err = Build(ctx, store, Options{N: tt.n, Seed: 1, Out: t.TempDir()})
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
	// A cube that cannot be drawn is reported on the card, not fatal.
	bad := mutate(func(r *gen.Record) { r.Meta.Objects[1].Cube.Size = []float64{1} })
	store, _ := blob.Open(context.Background(), bad)
	res, err := Build(context.Background(), store, Options{N: 5, Seed: 1, Out: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	page, _ := os.ReadFile(res.Page)
	if !strings.Contains(string(page), "object B: cube needs 3 center and 3 size values") {
		t.Error("the page does not say why cube B is not drawn")
	}
}

// TestCard: the PNG card holds the anchor view with the overlays drawn in
// and the conversation panel beside it.
func TestCard(t *testing.T) {
	dir, _ := testDataset(t)
	rec := firstRecord(t, dir)
	e := &dataset.Entry{Record: rec}
	ov, err := BuildOverlay(&rec)
	if err != nil {
		t.Fatal(err)
	}
	var views []image.Image // black: overlays stand out
	for range e.Images() {
		views = append(views, image.NewRGBA(image.Rect(0, 0, ov.W, ov.H)))
	}
	card := Card(views, e, ov)
	b := card.Bounds()
	if b.Dx() != ov.W+cardPanelW || b.Dy() < ov.H+cardHeaderH {
		t.Fatalf("card is %v, want %d wide and at least %d high", b, ov.W+cardPanelW, ov.H+cardHeaderH)
	}
	at := func(x, y float64) color.RGBA { return card.RGBAAt(int(x), int(y)+cardHeaderH) }
	for _, p := range ov.Points {
		if got, want := at(p.X, p.Y), objColor(p.Object); got != want {
			t.Errorf("point %s: card pixel at (%.0f, %.0f) is %v, want %v", p.Name, p.X, p.Y, got, want)
		}
	}
	for _, o := range ov.Objects {
		// The middle of every cube edge inside the image is drawn in the
		// object's color, unless a point or label sits on it.
		drawn, inside := 0, 0
		for _, l := range o.Edges {
			x, y := (l.X1+l.X2)/2, (l.Y1+l.Y2)/2
			if x < 1 || y < 1 || x > float64(ov.W-1) || y > float64(ov.H-1) {
				continue
			}
			inside++
			if at(x, y) == objColor(o.Ref) {
				drawn++
			}
		}
		if inside == 0 || drawn < inside*3/4 {
			t.Errorf("object %s: %d of %d edge midpoints drawn", o.Ref, drawn, inside)
		}
	}
	// The panel has text: light pixels right of the image.
	light := 0
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := ov.W; x < b.Max.X; x++ {
			if c := card.RGBAAt(x, y); c.R > 200 && c.G > 200 {
				light++
			}
		}
	}
	if light < 2000 {
		t.Errorf("conversation panel has %d light pixels: no text?", light)
	}
}

// TestBuildFromS3: the page is the same whether the dataset is read from a
// folder or from S3 (a real S3 server, versitygw).
func TestBuildFromS3(t *testing.T) {
	srv := s3test.Start(t)
	srv.SetEnv(t)
	dir, _ := testDataset(t)
	ctx := context.Background()
	local, err := blob.Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	remote, err := blob.Open(ctx, srv.Location("runs/preview"))
	if err != nil {
		t.Fatal(err)
	}
	files, err := local.List(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		b, err := blob.ReadAll(ctx, local, f.Key)
		if err != nil {
			t.Fatal(err)
		}
		if err := blob.Put(ctx, remote, f.Key, b); err != nil {
			t.Fatal(err)
		}
	}
	outLocal, outRemote := t.TempDir(), t.TempDir()
	rl, err := Build(ctx, local, Options{N: 8, Seed: 5, Out: outLocal})
	if err != nil {
		t.Fatal(err)
	}
	rr, err := Build(ctx, remote, Options{N: 8, Seed: 5, Out: outRemote})
	if err != nil {
		t.Fatal(err)
	}
	pl, _ := os.ReadFile(rl.Page)
	pr, _ := os.ReadFile(rr.Page)
	same := strings.ReplaceAll(string(pr), remote.String(), local.String())
	if same != string(pl) {
		t.Error("the page from S3 differs from the page from the folder (beyond the dataset's name)")
	}
	if rr.Images != rl.Images || rr.Cards != 8 {
		t.Errorf("from S3: %d cards, %d images; from the folder: %d, %d", rr.Cards, rr.Images, rl.Cards, rl.Images)
	}
	for _, p := range rr.PNGs {
		if st, err := os.Stat(p); err != nil || st.Size() == 0 {
			t.Errorf("PNG card %s: %v", p, err)
		}
	}
}

// BenchmarkBuild measures a page of 20 records with their PNG cards from
// the shared dataset (images copied once; later runs find them in place).
func BenchmarkBuild(b *testing.B) {
	dir, _ := testDataset(b)
	ctx := context.Background()
	store, err := blob.Open(ctx, dir)
	if err != nil {
		b.Fatal(err)
	}
	out := b.TempDir()
	for _, cards := range []bool{false, true} {
		name := "page"
		if cards {
			name = "page+cards"
		}
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				if _, err := Build(ctx, store, Options{N: 20, Seed: 1, Out: out, NoCards: !cards}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
