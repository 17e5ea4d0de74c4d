package gen

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"reflect"
	"testing"
)

// The ScanNet-layout reader turns exported synthetic scenes back into the
// same records: the layout loses nothing the pipeline uses.
func TestScanNetSourceReadsTheExport(t *testing.T) {
	dir := t.TempDir()
	export := filepath.Join(dir, "scenes")
	cfg, err := ParseConfig([]byte(fmt.Sprintf(`
seed: 9
source:
  type: synthetic
  synthetic: {width: 320, height: 240, sets: [{views: 1, scenes: 4}, {views: 4, scenes: 2}], export_dir: %q}
`, export)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Run(context.Background(), cfg, RunOptions{Out: filepath.Join(dir, "a")}); err != nil {
		t.Fatal(err)
	}
	cfg2, err := ParseConfig([]byte(fmt.Sprintf("seed: 9\nsource: {type: scannet, scannet: {root: %q}}", export)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Run(context.Background(), cfg2, RunOptions{Out: filepath.Join(dir, "b")}); err != nil {
		t.Fatal(err)
	}
	a, b := readRecords(t, filepath.Join(dir, "a")), readRecords(t, filepath.Join(dir, "b"))
	if len(a) == 0 || len(a) != len(b) {
		t.Fatalf("%d records from the synthetic source, %d from the export", len(a), len(b))
	}
	for n := range a {
		if a[n].ID != b[n].ID || !reflect.DeepEqual(a[n].Image, b[n].Image) || !reflect.DeepEqual(a[n].Conversations, b[n].Conversations) {
			t.Errorf("record %d differs: %s vs %s", n, a[n].ID, b[n].ID)
		}
		ta, _ := json.Marshal(a[n].Meta.Turns)
		tb, _ := json.Marshal(b[n].Meta.Turns)
		if string(ta) != string(tb) {
			t.Errorf("%s: turns differ", a[n].ID)
		}
		if b[n].Meta.Source.Kind != "scannet" {
			t.Errorf("%s: source kind %q", b[n].ID, b[n].Meta.Source.Kind)
		}
	}
}
