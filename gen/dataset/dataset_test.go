package dataset

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"

	"github.com/boostgen/boostgen/internal/blob"
)

const manifest = `{"shards": [{"path": "part-00000.jsonl.zst", "records": 2}, {"path": "part-00001.jsonl", "records": 1}],
 "rejects": {"path": "rejects.jsonl", "count": 2}, "totals": {"records": 3, "items": 5}}`

func write(t *testing.T, dir, name, body string) {
	t.Helper()
	data := []byte(body)
	if strings.HasSuffix(name, ".zst") {
		enc, _ := zstd.NewWriter(nil)
		data = enc.EncodeAll(data, nil)
	}
	if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestRecords(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "manifest.json", manifest)
	write(t, dir, "part-00000.jsonl.zst", `{"id": "a", "image": "images/a.png", "meta": {"order": "forward", "filter": {"clip": 0.3}}}
{"id": "b", "image": ["images/b1.png", "images/b2.png"], "meta": {}}
`)
	write(t, dir, "part-00001.jsonl", `{"id": "c", "image": "images/c.png", "meta": {}}`+"\n")
	write(t, dir, "rejects.jsonl", `{"item": "x", "index": 3, "code": "depth", "reason": "no depth"}`+"\n"+`{"item": "y", "index": 4, "code": "masks", "reason": "no masks"}`+"\n")
	ctx := context.Background()
	store, _ := blob.Open(ctx, dir)
	m, err := ReadManifest(ctx, store)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	var images [][]string
	var extra []string
	err = Records(ctx, store, m, func(e *Entry) error {
		got = append(got, e.Where())
		images = append(images, e.Images())
		if _, ok := e.Meta["filter"]; ok {
			extra = append(extra, e.Record.ID)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"part-00000.jsonl.zst line 1 (a)", "part-00000.jsonl.zst line 2 (b)", "part-00001.jsonl line 1 (c)"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("records %v, want %v", got, want)
	}
	if !reflect.DeepEqual(images, [][]string{{"images/a.png"}, {"images/b1.png", "images/b2.png"}, {"images/c.png"}}) {
		t.Errorf("images %v", images)
	}
	if !reflect.DeepEqual(extra, []string{"a"}) {
		t.Errorf("records keeping the unknown meta key: %v, want [a]", extra)
	}
	rej, err := Rejects(ctx, store, m)
	if err != nil || len(rej) != 2 || rej[1].Code != "masks" {
		t.Errorf("rejects %+v, %v", rej, err)
	}

	// fn's error stops the walk and comes back as is.
	stop := errors.New("stop")
	n := 0
	if err := Records(ctx, store, m, func(*Entry) error { n++; return stop }); err != stop || n != 1 {
		t.Errorf("walk went on after an error: %d calls, %v", n, err)
	}
}

func TestErrorsNameTheFile(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		want  string
	}{
		{"no manifest", map[string]string{}, "manifest.json"},
		{"bad manifest", map[string]string{"manifest.json": "{"}, "manifest.json"},
		{"missing shard", map[string]string{"manifest.json": manifest}, "part-00000.jsonl.zst"},
		{"bad line", map[string]string{"manifest.json": manifest, "part-00000.jsonl.zst": `{"id": "a", "meta": {}}` + "\nnot json\n"}, "part-00000.jsonl.zst line 2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			for name, body := range tt.files {
				write(t, dir, name, body)
			}
			ctx := context.Background()
			store, _ := blob.Open(ctx, dir)
			m, err := ReadManifest(ctx, store)
			if err == nil {
				err = Records(ctx, store, m, func(*Entry) error { return nil })
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want one naming %s", err, tt.want)
			}
		})
	}
}
