package main

import (
	"bytes"
	"encoding/json"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A ScanNet-layout export end to end through the CLI: boostgen run writes
// synthetic scenes in the layout, a second boostgen run reads them back
// (plus two broken scenes: a pose with NaN, depth of another size with no
// depth intrinsics), and boostgen validate accepts the dataset. No model is
// needed: the layout carries depth and poses.
func TestScanNetLayoutEndToEnd(t *testing.T) {
	dir := t.TempDir()
	scenes := filepath.Join(dir, "scans")
	gen := filepath.Join(dir, "gen.yaml")
	os.WriteFile(gen, []byte("seed: 5\nsource:\n  type: synthetic\n  synthetic: {width: 160, height: 120, sets: [{views: 1, scenes: 3}, {views: 4, scenes: 3}], export_dir: "+scenes+"}\n"), 0o644)
	if _, _, err := runCLI(t, "run", gen, "--out", filepath.Join(dir, "a"), "--no-progress"); err != nil {
		t.Fatal(err)
	}
	// Break two copies of an exported scene.
	entries, _ := os.ReadDir(scenes)
	if len(entries) != 6 {
		t.Fatalf("%d exported scenes", len(entries))
	}
	src := filepath.Join(scenes, entries[3].Name()) // a 4-view scene
	copyDir(t, src, filepath.Join(scenes, "zz-nan-pose"))
	os.WriteFile(filepath.Join(scenes, "zz-nan-pose", "pose", "1.txt"), []byte("1 0 0 nan\n0 1 0 0\n0 0 1 0\n0 0 0 1\n"), 0o644)
	copyDir(t, src, filepath.Join(scenes, "zz-depth-size"))
	var px bytes.Buffer
	png.Encode(&px, image.NewGray16(image.Rect(0, 0, 1, 1)))
	os.WriteFile(filepath.Join(scenes, "zz-depth-size", "depth", "0.png"), px.Bytes(), 0o644)
	os.Remove(filepath.Join(scenes, "zz-depth-size", "intrinsic", "intrinsic_depth.txt"))

	cfg := filepath.Join(dir, "scannet.yaml")
	os.WriteFile(cfg, []byte("seed: 5\nsource: {type: scannet, scannet: {root: "+scenes+"}}\n"), 0o644)
	out := filepath.Join(dir, "b")
	stdout, _, err := runCLI(t, "run", cfg, "--out", out, "--workers", "2", "--json", "--no-progress")
	if err != nil {
		t.Fatal(err)
	}
	var sum struct{ Items, Records, Rejects int }
	if err := json.Unmarshal([]byte(stdout), &sum); err != nil || sum.Items != 8 || sum.Records < 4 {
		t.Fatalf("summary %s (%v)", stdout, err)
	}
	stdout, _, err = runCLI(t, "validate", out)
	if err != nil || !strings.Contains(stdout, `"ok": true`) {
		t.Fatalf("validate: %v\n%s", err, stdout)
	}
	rejects, _ := os.ReadFile(filepath.Join(out, "rejects.jsonl"))
	for item, want := range map[string]string{
		"zz-nan-pose":   "pose/1.txt: pose is not finite",
		"zz-depth-size": "depth is 1×1 but color is 160×120, and without",
	} {
		found := false
		for _, line := range strings.Split(string(rejects), "\n") {
			if strings.Contains(line, `"item":"`+item+`"`) {
				found = true
				if !strings.Contains(line, want) {
					t.Errorf("%s: %s, want %q", item, line, want)
				}
			}
		}
		if !found {
			t.Errorf("%s: no reject in\n%s", item, rejects)
		}
	}
}

func copyDir(t *testing.T, from, to string) {
	t.Helper()
	err := filepath.WalkDir(from, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, p)
		dst := filepath.Join(to, rel)
		if d.IsDir() {
			return os.MkdirAll(dst, 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(dst, b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}
