package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/boostgen/boostgen/gen"
	"github.com/boostgen/boostgen/gen/dataset"
	"github.com/boostgen/boostgen/gen/synthetic/synthtest"
	"github.com/boostgen/boostgen/internal/blob"
	"github.com/boostgen/boostgen/internal/llm/llmtest"
)

// captureStderr collects what is written to os.Stderr (where the logger
// writes) while fn runs.
func captureStderr(t *testing.T, fn func()) string {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	old := os.Stderr
	os.Stderr = w
	got := make(chan string)
	go func() {
		b, _ := io.ReadAll(r)
		got <- string(b)
	}()
	defer func() {
		os.Stderr = old
	}()
	fn()
	w.Close()
	return <-got
}

func countVQAByViews(t *testing.T, out string) map[int]int {
	t.Helper()
	ctx := context.Background()
	st, err := blob.NewLocal(out)
	if err != nil {
		t.Fatal(err)
	}
	m, err := dataset.ReadManifest(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	byViews := map[int]int{}
	err = dataset.Records(ctx, st, m, func(e *dataset.Entry) error {
		if e.Record.Meta.Kind == gen.KindVQA {
			byViews[len(e.Images())]++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return byViews
}

// TestRunLLMEndToEnd is the acceptance run: boostgen run of a
// multi-view config whose llm section points at a local OpenAI-compatible
// server that rate-limits, fails, stalls and garbles some replies. It must
// produce validated 2-, 4- and 8-view records, a rerun into the same output
// must make zero requests, and the API key must appear in no log, output
// or error, while the server did receive it.
func TestRunLLMEndToEnd(t *testing.T) {
	const key = "sk-boostgen-e2e-5ecret-7f3a9c21d4"
	t.Setenv("BOOSTGEN_E2E_LLM_KEY", key)
	srv := llmtest.New(llmtest.StageAnswer)
	defer srv.Close()
	srv.RetryAfter = "0.01"
	srv.Fail(llmtest.RateLimit, llmtest.ServerError, llmtest.MalformedJSON, llmtest.Stall)

	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "multiview.yaml")
	cfg := fmt.Sprintf(`seed: 2
source: {type: scannet, scannet: {root: %q}}
llm:
  base_url: %s
  model: gpt-4o-2024-08-06
  api_key_env: BOOSTGEN_E2E_LLM_KEY
  detail: low
  rpm: 6000
  timeout: 4s
  max_retries: 4
  backoff_base: 1ms
  backoff_max: 5ms
  price_input_per_1m: 2.5
  price_output_per_1m: 10
`, synthtest.CaptionlessScans(t, 21, 2, 4, 8, 1), srv.URL)
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out")

	var stdout, stderr string
	var err error
	logs := captureStderr(t, func() {
		stdout, stderr, err = runCLI(t, "run", cfgPath, "--out", out, "--workers", "2", "--json", "-v")
	})
	if err != nil {
		t.Fatalf("run: %v\n%s\n%s", err, stderr, logs)
	}
	var sum gen.Summary
	if err := json.Unmarshal([]byte(stdout), &sum); err != nil || sum.LLM == nil {
		t.Fatalf("summary %q: %v", stdout, err)
	}
	retries := int64(0)
	for _, u := range sum.LLM.Stages {
		retries += u.Retries
	}
	if u := sum.LLM.Stages["mv_vqa"]; u.Requests != 9 || retries < 4 || sum.LLM.CostUSD <= 0 {
		t.Errorf("usage %+v, cost %v: want 9 paid VQA requests, and a retry for each of the 4 faults", sum.LLM.Stages, sum.LLM.CostUSD)
	}
	if !strings.Contains(logs, "llm: retrying") {
		t.Errorf("no retry in the log:\n%s", logs)
	}
	vout, _, err := runCLI(t, "validate", out)
	if err != nil || !strings.Contains(vout, `"ok": true`) {
		t.Fatalf("validate: %v\n%s", err, vout)
	}
	if got := countVQAByViews(t, out); got[2] != 3 || got[4] != 2 || got[8] != 1 {
		t.Errorf("VQA records by view count %v, want 3 with 2 views, 2 with 4, 1 with 8", got)
	}
	// The dataset tools take VQA records in their stride.
	sout, _, err := runCLI(t, "stats", out)
	if err != nil || !strings.Contains(sout, "multiview common") {
		t.Errorf("stats: %v\n%s", err, sout)
	}
	if _, _, err := runCLI(t, "preview", out, "--out", filepath.Join(dir, "preview"), "--n", "20"); err != nil {
		t.Errorf("preview: %v", err)
	}
	paid := srv.ChatRequests()

	// The dataset made again in the same output (all but its llm/ folder
	// deleted): every answer comes from the cache there, so the server
	// sees nothing.
	entries, _ := os.ReadDir(out)
	for _, e := range entries {
		if e.Name() != "llm" {
			os.RemoveAll(filepath.Join(out, e.Name()))
		}
	}
	logs2 := captureStderr(t, func() {
		stdout, stderr, err = runCLI(t, "run", cfgPath, "--out", out, "--workers", "3")
	})
	if err != nil {
		t.Fatalf("rerun: %v\n%s", err, stderr)
	}
	if n := srv.ChatRequests() - paid; n != 0 {
		t.Errorf("the rerun made %d requests, want 0", n)
	}
	if !strings.Contains(stderr, "$0.0000 this run") || !strings.Contains(stderr, "mv_vqa:") {
		t.Errorf("rerun summary lacks the LLM lines:\n%s", stderr)
	}

	// A server that echoes the Authorization header in its error: the run
	// stops, and the key is scrubbed from what the user sees.
	srv.Fail(llmtest.EchoAuth)
	out3 := filepath.Join(dir, "out3")
	var err3 error
	logs3 := captureStderr(t, func() {
		_, stderr, err3 = runCLI(t, "run", cfgPath, "--out", out3, "--workers", "1")
	})
	if err3 == nil || !strings.Contains(err3.Error(), "invalid_api_key") {
		t.Fatalf("run against a server refusing the key: %v", err3)
	}

	if srv.AuthHeaders()["Bearer "+key] == 0 {
		t.Fatal("the server never received the key: the secrecy checks below would prove nothing")
	}
	for what, text := range map[string]string{"stdout": stdout, "stderr": stderr, "logs": logs + logs2 + logs3, "error": err3.Error()} {
		if strings.Contains(text, key) || strings.Contains(text, key[3:20]) {
			t.Errorf("the API key appears in %s", what)
		}
	}
	for _, d := range []string{out, out3} {
		filepath.WalkDir(d, func(p string, e fs.DirEntry, err error) error {
			if err != nil || e.IsDir() {
				return err
			}
			if b, _ := os.ReadFile(p); bytes.Contains(b, []byte(key)) || bytes.Contains(b, []byte(key[3:20])) {
				t.Errorf("the API key appears in %s", p)
			}
			return nil
		})
	}
}

func TestRunLLMBudgetFlag(t *testing.T) {
	dir := t.TempDir()
	plain := filepath.Join(dir, "plain.yaml")
	os.WriteFile(plain, []byte("source: {type: synthetic, synthetic: {sets: [{views: 2, scenes: 1}]}}\n"), 0o644)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"run", plain, "--llm-budget", "-1"}, "--llm-budget -1: must be 0 or more"},
		{[]string{"run", plain, "--llm-budget", "5"}, "has no llm section"},
		{[]string{"run", plain, "--on-cluster", "--llm-budget", "5"}, "llm.budget_usd"},
	} {
		if _, _, err := runCLI(t, c.args...); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: %v, want %q", c.args, err, c.want)
		}
	}

	srv := llmtest.New(llmtest.StageAnswer)
	defer srv.Close()
	cfg := filepath.Join(dir, "llm.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf("source: {type: scannet, scannet: {root: %q}}\nllm: {base_url: %q, model: m, concurrency: 1, price_input_per_1m: 2.5, price_output_per_1m: 10}\n",
		synthtest.CaptionlessScans(t, 21, 4), srv.URL)), 0o644)
	out := filepath.Join(dir, "out")
	_, _, err := runCLI(t, "run", cfg, "--out", out, "--workers", "1", "--llm-budget", "0.005")
	if err == nil || !strings.Contains(err.Error(), "budget reached") || !strings.Contains(err.Error(), "larger --llm-budget") {
		t.Fatalf("run with a tiny budget: %v", err)
	}
	if n := srv.ChatRequests(); n != 2 { // $0.0035 each
		t.Errorf("%d requests under a $0.005 budget, want 2", n)
	}
	stdout, _, err := runCLI(t, "run", cfg, "--out", out, "--workers", "1", "--llm-budget", "1", "--json")
	if err != nil {
		t.Fatalf("rerun with a larger budget: %v", err)
	}
	var sum gen.Summary
	if err := json.Unmarshal([]byte(stdout), &sum); err != nil || sum.LLM == nil || sum.LLM.BudgetUSD != 1 {
		t.Fatalf("summary %s (%v)", stdout, err)
	}
	if got := sum.LLM.SpentUSD - sum.LLM.CostUSD; got < 0.0069 || got > 0.0071 {
		t.Errorf("spent before this run $%v, want the first run's $0.007", got)
	}
}
