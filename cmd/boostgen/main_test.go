package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

func runCLI(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	root := newRootCommand()
	var out, errb bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errb)
	root.SetArgs(args)
	err = root.ExecuteContext(context.Background())
	return out.String(), errb.String(), err
}

func TestRunAndValidate(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "c.yaml")
	os.WriteFile(cfg, []byte("seed: 4\nsource:\n  type: synthetic\n  synthetic: {width: 320, height: 240, sets: [{views: 1, scenes: 6}, {views: 2, scenes: 2}]}\n"), 0o644)
	out := filepath.Join(dir, "out")
	stdout, _, err := runCLI(t, "run", cfg, "--out", out, "--workers", "2", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var sum struct{ Items, Records, Rejects int }
	if err := json.Unmarshal([]byte(stdout), &sum); err != nil || sum.Items != 8 || sum.Records+sum.Rejects != 8 {
		t.Fatalf("summary %q (%v)", stdout, err)
	}
	stdout, _, err = runCLI(t, "validate", out)
	if err != nil || !strings.Contains(stdout, `"ok": true`) {
		t.Fatalf("validate: %v\n%s", err, stdout)
	}
	os.Remove(filepath.Join(out, "manifest.json"))
	stdout, _, err = runCLI(t, "validate", out)
	var ec exitCode
	if !errors.As(err, &ec) || ec != 1 || !strings.Contains(stdout, `"ok": false`) {
		t.Fatalf("validate of an unfinished dataset: %v\n%s", err, stdout)
	}
}

func TestRunErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("source: {type: synthetic, synthetic: {scenes: 3}}\n"), 0o644)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"run", bad}, "source.synthetic: unknown key 'scenes'"},
		{[]string{"run", filepath.Join(dir, "missing.yaml")}, "missing.yaml: no such file"},
		{[]string{"run"}, "accepts 1 arg"},
		{[]string{"run", bad, "--limit", "-1"}, "unknown key"},
	} {
		_, _, err := runCLI(t, c.args...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: error %v, want %q", c.args, err, c.want)
		}
	}
}

func TestHelpHasExamples(t *testing.T) {
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		for _, sub := range c.Commands() {
			if sub.Name() == "help" || sub.Name() == "completion" {
				continue
			}
			if sub.Example == "" || sub.Short == "" {
				t.Errorf("%s: help without a short description or examples", sub.CommandPath())
			}
			walk(sub)
		}
	}
	walk(newRootCommand())
}
