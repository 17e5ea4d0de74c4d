package gen

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestConfigErrorsNameTheKey(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		name, yaml string
		want       []string
	}{
		{"unknown top-level key", "source: {type: synthetic}\noutputs: {dir: x}\n", []string{"unknown key 'outputs'"}},
		{"unknown nested key", "source:\n  type: synthetic\n  synthetic: {sets: [{views: 1, scenes: 2, walls: 3}]}\n", []string{"source.synthetic.sets[0]", "unknown key 'walls'"}},
		{"bad enum", "source: {type: synthetic, synthetic: {sets: [{views: 3, scenes: 1}]}}\n", []string{"source.synthetic.sets[0].views", "1, 2, 4, 8"}},
		{"missing source", "seed: 3\n", []string{"source"}},
		{"wrong type", "source: {type: synthetic}\nseed: many\n", []string{"seed"}},
		{"not yaml", "source: [unclosed\n", []string{"not valid YAML"}},
		{"min above max", "source: {type: synthetic, synthetic: {min_objects: 6, max_objects: 4}}\n", []string{"max_objects"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := filepath.Join(dir, strings.ReplaceAll(c.name, " ", "-")+".yaml")
			os.WriteFile(p, []byte(c.yaml), 0o644)
			_, err := LoadConfig(p)
			if err == nil {
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), p) {
				t.Errorf("%v: does not name the file", err)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("%v: does not mention %q", err, w)
				}
			}
		})
	}
}

func TestConfigMissingFile(t *testing.T) {
	_, err := LoadConfig("/nonexistent/boostgen.yaml")
	if err == nil || !strings.Contains(err.Error(), "/nonexistent/boostgen.yaml: no such file") {
		t.Fatalf("error %v", err)
	}
}

func TestConfigDefaultsAndHash(t *testing.T) {
	a, err := ParseConfig([]byte("source: {type: synthetic}"))
	if err != nil {
		t.Fatal(err)
	}
	if a.Seed != 1 || a.Source.Synthetic.Width != 640 || a.Output.Compression != "zstd" || *a.Templates.MinMarginM != 0.05 {
		t.Errorf("defaults %+v", a)
	}
	b, _ := ParseConfig([]byte("source: {type: synthetic}\nseed: 1\noutput: {compression: zstd}"))
	if a.Hash() != b.Hash() {
		t.Error("spelling out a default changed the hash")
	}
	c, _ := ParseConfig([]byte("source: {type: synthetic}\nseed: 2"))
	if a.Hash() == c.Hash() {
		t.Error("another seed, same hash")
	}
}

func TestQuickstartConfigIsValid(t *testing.T) {
	cfg, err := LoadConfig("../examples/quickstart.yaml")
	if err != nil {
		t.Fatal(err)
	}
	single, multi := 0, 0
	for _, s := range cfg.Source.Synthetic.Sets {
		if s.Views == 1 {
			single += s.Scenes
		} else {
			multi += s.Scenes
		}
	}
	// Acceptance: ≥ 200 single-view and ≥ 100 multi-view records, allowing
	// for rejects.
	if single < 220 || multi < 110 {
		t.Errorf("quickstart asks for %d single-view and %d multi-view scenes", single, multi)
	}
}
