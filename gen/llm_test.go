package gen

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	openai "github.com/sashabaranov/go-openai"

	"github.com/boostgen/boostgen/gen/llmstage"
	"github.com/boostgen/boostgen/gen/synthetic/synthtest"
	"github.com/boostgen/boostgen/internal/blob"
	"github.com/boostgen/boostgen/internal/llm"
	"github.com/boostgen/boostgen/internal/llm/llmtest"
)

const testLLMPrice = "price_input_per_1m: 2.5, price_output_per_1m: 10" // llmtest's 1000+100 tokens: $0.0035 a request

func llmConfig(t *testing.T, root, url, extra string) *Config {
	t.Helper()
	cfg, err := ParseConfig([]byte(fmt.Sprintf(`
seed: 3
source: {type: scannet, scannet: {root: %q}}
llm: {base_url: %q, model: gpt-4o-2024-08-06, concurrency: 1, max_retries: 2, backoff_base: 1ms, backoff_max: 2ms, timeout: 5s, %s%s}
`, root, url, testLLMPrice, extra)))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// llmParts maps each part file of an output to its bytes.
func llmParts(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	parts, _ := filepath.Glob(filepath.Join(dir, "part-*"))
	for _, p := range parts {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		out[filepath.Base(p)] = b
	}
	return out
}

func llmRejects(t *testing.T, dir string) []Reject {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, RejectsFile))
	if err != nil {
		t.Fatal(err)
	}
	var out []Reject
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if line == "" {
			continue
		}
		var r Reject
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	return out
}

func llmValidate(t *testing.T, dir string) {
	t.Helper()
	store, err := blob.NewLocal(dir)
	if err != nil {
		t.Fatal(err)
	}
	if r := Validate(context.Background(), store); !r.OK {
		t.Fatalf("validate: %v", r.Errors)
	}
}

func TestLLMConfig(t *testing.T) {
	const ep = "base_url: 'http://127.0.0.1:1/v1', model: m"
	tests := []struct {
		name  string
		llm   string // the llm section's keys
		want  string // error substring; "" for valid
		check func(*testing.T, *Config)
	}{
		{name: "defaults", llm: ep, check: func(t *testing.T, c *Config) {
			s := c.LLM.Stages
			if !*s.Captions || !*s.Interpolation || strings.Join(s.VQA, ",") != "common,adversarial,multi_choice" {
				t.Errorf("stages %+v", s)
			}
		}},
		{name: "vqa off turns interpolation off", llm: ep + ", stages: {vqa: []}", check: func(t *testing.T, c *Config) {
			if len(c.LLM.Stages.VQA) != 0 || *c.LLM.Stages.Interpolation {
				t.Errorf("stages %+v", c.LLM.Stages)
			}
		}},
		{name: "durations", llm: ep + ", timeout: 90s, backoff_base: 2", check: func(t *testing.T, c *Config) {
			if c.LLM.Timeout.D() != 90*time.Second || c.LLM.BackoffBase.D() != 2*time.Second {
				t.Errorf("timeout %v backoff %v", c.LLM.Timeout.D(), c.LLM.BackoffBase.D())
			}
		}},
		{name: "interpolation without vqa", llm: ep + ", stages: {vqa: [], interpolation: true}", want: "llm.stages.interpolation"},
		{name: "unknown vqa kind", llm: ep + ", stages: {vqa: [riddles]}", want: "llm.stages.vqa[0]"},
		{name: "unknown key", llm: ep + ", api_key: sk-123", want: "llm: unknown key 'api_key'"},
		{name: "two key sources", llm: ep + ", api_key_env: K, api_key_file: k.txt", want: "api_key_env or api_key_file"},
		{name: "bad url", llm: "base_url: 'ftp://x', model: m", want: "llm.base_url"},
		{name: "no model", llm: "base_url: 'http://127.0.0.1:1/v1', model: ''", want: "llm.model"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			text := "source: {type: synthetic}\nllm: {" + tc.llm + "}\n"
			cfg, err := ParseConfig([]byte(text))
			if tc.want != "" {
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("config %q: error %v, want %q", text, err, tc.want)
				}
				if strings.Contains(err.Error(), "sk-123") {
					t.Errorf("the error repeats a key's value: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("config %q: %v", text, err)
			}
			tc.check(t, cfg)
		})
	}
}

// A resumed run may change how it talks to the endpoint (limits, budget,
// key source) but not what it asks: only the latter is in the config hash.
func TestLLMConfigHash(t *testing.T) {
	hash := func(llmKeys string) string {
		cfg, err := ParseConfig([]byte("source: {type: synthetic}\nllm: {base_url: 'http://127.0.0.1:1/v1', " + llmKeys + "}\n"))
		if err != nil {
			t.Fatal(err)
		}
		return cfg.Hash()
	}
	ref := hash("model: m")
	for keys, same := range map[string]bool{
		"model: m, rpm: 60, tpm: 1000, concurrency: 2, budget_usd: 5, api_key_env: K, max_retries: 1, timeout: 3s": true,
		"model: m, price_input_per_1m: 3":          true,
		"model: other":                             false,
		"model: m, detail: low":                    false,
		"model: m, stages: {vqa: [common]}":        false,
		"model: m, stages: {captions: false}":      false,
		"model: m, temperature: 0.5":               false,
		"model: m, prompts: more-prompts.yaml":     false,
		"model: m, stages: {interpolation: false}": false,
	} {
		if got := hash(keys) == ref; got != same {
			t.Errorf("{%s}: same hash %v, want %v", keys, got, same)
		}
	}
}

// The stages' answers decide rejects; the endpoint's state decides stops.
func TestLLMFailureSorting(t *testing.T) {
	s := &llmStage{store: localStore(t, t.TempDir())}
	tests := []struct {
		name   string
		err    error
		reject string // substring of the reject reason
		fatal  string // substring of the fatal error
		is     error
	}{
		{name: "answer failed twice", err: &llmstage.RejectError{Stage: "caption", Item: "(a.png)", Reason: "the short caption has 2 words", First: "x"}, reject: "short caption has 2 words"},
		{name: "request refused as invalid", err: fmt.Errorf("llm caption: %w", &llm.StatusError{Status: 400, Message: "Invalid image."}), reject: "Invalid image"},
		{name: "budget", err: fmt.Errorf("%w: spent $1 of $1", llm.ErrBudget), fatal: "--llm-budget", is: llm.ErrBudget},
		{name: "quota", err: fmt.Errorf("llm: %w", &llm.StatusError{Status: 429, Code: "insufficient_quota"}), fatal: "no credit left", is: llm.ErrQuota},
		{name: "bad key", err: &llm.StatusError{Status: 401, Code: "invalid_api_key"}, fatal: "401"},
		{name: "endpoint down", err: errors.New("gave up after 3 attempts: HTTP 503"), fatal: "gave up"},
		{name: "cancelled", err: context.Canceled, fatal: "canceled", is: context.Canceled},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			reason, fatal := s.failure(tc.err)
			switch {
			case tc.reject != "":
				if fatal != nil || !strings.Contains(reason, tc.reject) {
					t.Fatalf("reason %q fatal %v, want a reject with %q", reason, fatal, tc.reject)
				}
			default:
				if fatal == nil || !strings.Contains(fatal.Error(), tc.fatal) {
					t.Fatalf("reason %q fatal %v, want a stop with %q", reason, fatal, tc.fatal)
				}
				if tc.is != nil && !errors.Is(fatal, tc.is) {
					t.Fatalf("%v does not match %v", fatal, tc.is)
				}
			}
		})
	}
}

// TestLLMRun runs the pipeline with every GPT stage against the local
// OpenAI-compatible server: caption turns complete the 12-turn chains,
// multi-view items give 2-, 4- and 8-view VQA records, the dataset
// validates, and a rerun into the same output pays for nothing.
func TestLLMRun(t *testing.T) {
	srv := llmtest.New(llmtest.StageAnswer)
	defer srv.Close()
	root := synthtest.CaptionlessScans(t, 11, 1, 2, 4, 8)
	cfg := llmConfig(t, root, srv.URL, "")
	out := filepath.Join(t.TempDir(), "out")
	sum, err := Run(context.Background(), cfg, RunOptions{Out: out, Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	llmValidate(t, out)
	recs := readRecords(t, out)

	spatial, vqa := 0, map[string]int{}
	for _, r := range recs {
		switch r.Meta.Kind {
		case KindSpatial:
			spatial++
			if len(r.Conversations) != 24 || len(r.Meta.Turns) != 12 {
				t.Errorf("%s: %d messages, %d turns; want the whole 12-turn chain", r.ID, len(r.Conversations), len(r.Meta.Turns))
			}
			for _, turn := range r.Meta.Turns[10:] {
				if turn.Missing || turn.Extra["generated_by"] != "llm" {
					t.Errorf("%s: caption turn %+v not filled by the LLM", r.ID, turn)
				}
			}
			if last := r.Conversations[23].Value; !strings.Contains(last, "lighting is even") {
				t.Errorf("%s: last answer %q is not the detailed caption", r.ID, last)
			}
		case KindVQA:
			paths := r.Image.([]any)
			vqa[fmt.Sprintf("%s/%d", r.Meta.Source.Item, len(paths))]++
			if r.Meta.Task != TaskMultiVQA || len(r.Conversations) != 6 || r.Meta.VQA == nil {
				t.Fatalf("%s: task %q, %d messages, vqa %v", r.ID, r.Meta.Task, len(r.Conversations), r.Meta.VQA)
			}
			if got := strings.Count(r.Conversations[0].Value, "<image>"); got != len(paths) {
				t.Errorf("%s: %d <image> tokens for %d images", r.ID, got, len(paths))
			}
			if mc := r.Conversations[4].Value; !strings.Contains(mc, "\nA. ") || !strings.Contains(mc, "\nD. ") || r.Conversations[5].Value != "A. A red box standing on the floor" {
				t.Errorf("%s: multiple choice turn %q → %q", r.ID, mc, r.Conversations[5].Value)
			}
			if len(paths) > 2 {
				checks := r.Meta.VQA.Checks
				if len(checks) == 0 || !checks[0].Kept || len(checks[0].Verdicts) != 3 {
					t.Errorf("%s: checks %+v", r.ID, checks)
				}
			}
		default:
			t.Errorf("%s: kind %q", r.ID, r.Meta.Kind)
		}
	}
	want := map[string]int{"scene0001_2v/2": 1, "scene0002_4v/2": 1, "scene0002_4v/4": 1, "scene0003_8v/2": 1, "scene0003_8v/4": 1, "scene0003_8v/8": 1}
	if fmt.Sprint(vqa) != fmt.Sprint(want) {
		t.Errorf("VQA records by item/views %v, want %v", vqa, want)
	}
	if spatial == 0 {
		t.Fatal("no spatial record to carry caption turns")
	}
	if sum.LLM == nil || sum.Records != spatial+6 {
		t.Fatalf("summary %+v", sum)
	}
	// 3 VQA kinds × 3 pairs, 2 + 6 view checks, 1 caption request per spatial record.
	wantReqs := 9 + 8 + spatial
	if got := srv.ChatRequests(); got != wantReqs {
		t.Errorf("%d chat requests, want %d", got, wantReqs)
	}
	u := sum.LLM.Stages
	if u[llmstage.StageVQA].Requests != 9 || u[llmstage.StageViewCheck].Requests != 8 || u[llmstage.StageCaption].Requests != int64(spatial) {
		t.Errorf("usage %+v", u)
	}
	if d := sum.LLM.CostUSD - float64(wantReqs)*0.0035; d > 1e-9 || d < -1e-9 {
		t.Errorf("cost $%v, want $%v", sum.LLM.CostUSD, float64(wantReqs)*0.0035)
	}

	// The dataset made again in the same output, whose llm/ folder holds
	// the cache: every answer comes from there.
	before := llmParts(t, out)
	keepOnlyLLM(t, out)
	sum2, err := Run(context.Background(), cfg, RunOptions{Out: out, Workers: 3})
	if err != nil {
		t.Fatal(err)
	}
	if got := srv.ChatRequests(); got != wantReqs {
		t.Errorf("the rerun made %d new requests, want 0", got-wantReqs)
	}
	if sum2.LLM.CostUSD != 0 || sum2.LLM.Stages[llmstage.StageVQA].CacheHits != 9 {
		t.Errorf("rerun usage %+v", sum2.LLM)
	}
	after := llmParts(t, out)
	if len(before) == 0 || len(after) != len(before) {
		t.Errorf("%d parts before the rerun, %d after", len(before), len(after))
	}
	for name, b := range before {
		if !bytes.Equal(b, after[name]) {
			t.Errorf("%s differs after the rerun", name)
		}
	}
}

// keepOnlyLLM deletes a dataset but its llm/ folder (cache and spend).
func keepOnlyLLM(t *testing.T, out string) {
	t.Helper()
	entries, err := os.ReadDir(out)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Name() != "llm" {
			if err := os.RemoveAll(filepath.Join(out, e.Name())); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// dataURLHas reports whether any image of req is exactly data.
func dataURLHas(req openai.ChatCompletionRequest, data []byte) bool {
	want := base64.StdEncoding.EncodeToString(data)
	for _, m := range req.Messages {
		for _, p := range m.MultiContent {
			if p.ImageURL != nil && strings.HasSuffix(p.ImageURL.URL, ";base64,"+want) {
				return true
			}
		}
	}
	return false
}

// Answers that fail validation twice become rejects that say why; the run
// goes on and what it writes still validates.
func TestLLMAnswerRejects(t *testing.T) {
	root := synthtest.CaptionlessScans(t, 11, 1, 2, 8)
	read := func(item string, view int) []byte {
		b, err := os.ReadFile(filepath.Join(root, item, "color", fmt.Sprintf("%d.png", view)))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	twoView := read("scene0001_2v", 1)
	doubtful := read("scene0002_8v", 3) // an in-between view of the 8-view path
	srv := llmtest.New(func(req openai.ChatCompletionRequest) (string, error) {
		switch name := llmtest.SchemaName(req); {
		case name == "caption":
			return `{"short_caption": "A room.", "detailed_caption": "A room with things in it."}`, nil
		case name == "vqa_multi_choice" && dataURLHas(req, twoView):
			return `{"question": "Which?", "candidates": ["one two three four five", "one two three four five", "six seven eight nine ten", "a b c d e"], "answer_index": 2}`, nil
		case name == "view_check" && dataURLHas(req, doubtful):
			return llmtest.ViewCheckAnswer(req, func(qa int) bool { return qa == 1 }), nil
		}
		return llmtest.StageAnswer(req)
	})
	defer srv.Close()
	out := filepath.Join(t.TempDir(), "out")
	sum, err := Run(context.Background(), llmConfig(t, root, srv.URL, ""), RunOptions{Out: out, Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	llmValidate(t, out)
	byItem := map[string]Reject{}
	for _, r := range llmRejects(t, out) {
		byItem[r.Item] = r
	}
	want := map[string]struct{ code, reason string }{
		"scene0001_2v-vqa0-2v": {RejectLLMVQA, "candidates A and B are the same"},
		"scene0002_8v-vqa0-8v": {RejectLLMViews, "5 of 6 in-between views verified"},
	}
	for item, w := range want {
		r, ok := byItem[item]
		if !ok || r.Code != w.code || !strings.Contains(r.Reason, w.reason) {
			t.Errorf("reject of %s: %+v, want code %s with %q", item, r, w.code, w.reason)
		}
	}
	captionRejects := 0
	for _, r := range byItem {
		if r.Code == RejectLLMCaption {
			captionRejects++
			if !strings.Contains(r.Reason, "short caption has 2 words") || !strings.Contains(r.Reason, "answer rejected after one retry") {
				t.Errorf("caption reject reason %q", r.Reason)
			}
		}
	}
	if captionRejects == 0 || sum.RejectsByCode[RejectLLMCaption] != captionRejects {
		t.Errorf("%d caption rejects, summary %v", captionRejects, sum.RejectsByCode)
	}
	views := map[string]bool{}
	for _, r := range readRecords(t, out) {
		if r.Meta.Kind == KindSpatial {
			t.Errorf("%s: a spatial record without valid captions was written", r.ID)
		}
		views[r.ID] = true
		if r.ID == "scene0002_8v-vqa0-4v" {
			for _, c := range r.Meta.VQA.Checks {
				if c.View == "3" && (c.Kept || len(c.Verdicts) != 3 || c.Verdicts[1].Holds) {
					t.Errorf("check of view 3: %+v", c)
				}
			}
			if got := fmt.Sprint(r.Meta.Source.Views); got != "[0 2 5 7]" {
				t.Errorf("4-view sample from views %s, want the kept ones spread evenly: [0 2 5 7]", got)
			}
		}
	}
	if !views["scene0002_8v-vqa0-2v"] || !views["scene0002_8v-vqa0-4v"] || views["scene0001_2v-vqa0-2v"] {
		t.Errorf("records %v", views)
	}
}

// A budget stops the run cleanly with a message saying how to go on; a
// rerun with a larger one finishes, and the two together pay for exactly
// what one uninterrupted run pays for.
func TestLLMBudgetStopsAndResumes(t *testing.T) {
	srv := llmtest.New(llmtest.StageAnswer)
	defer srv.Close()
	root := synthtest.CaptionlessScans(t, 11, 2, 4)
	cfg := llmConfig(t, root, srv.URL, "")
	out := filepath.Join(t.TempDir(), "out")

	_, err := Run(context.Background(), cfg, RunOptions{Out: out, Workers: 1, LLMBudgetUSD: 0.02})
	if !errors.Is(err, llm.ErrBudget) || !strings.Contains(err.Error(), "--llm-budget") {
		t.Fatalf("error %v, want the budget stop", err)
	}
	if _, err := os.Stat(filepath.Join(out, ManifestFile)); err == nil {
		t.Fatal("a stopped run wrote a manifest")
	}
	first := srv.ChatRequests()
	if first != 6 { // $0.0035 each: the 7th would start at $0.021 ≥ $0.02
		t.Errorf("%d requests before the budget stop, want 6", first)
	}
	spent, err := readSpent(context.Background(), localStore(t, out), "")
	if err != nil || spent < 0.0209 || spent > 0.0211 {
		t.Fatalf("spent %v (%v), want $0.021 recorded", spent, err)
	}

	// The budget covers the output, earlier runs included.
	_, err = Run(context.Background(), cfg, RunOptions{Out: out, Workers: 1, LLMBudgetUSD: 0.021})
	if !errors.Is(err, llm.ErrBudget) || srv.ChatRequests() != first {
		t.Fatalf("rerun with the budget already spent: %v after %d new requests", err, srv.ChatRequests()-first)
	}

	sum, err := Run(context.Background(), cfg, RunOptions{Out: out, Workers: 1, LLMBudgetUSD: 1})
	if err != nil {
		t.Fatal(err)
	}
	llmValidate(t, out)
	resumed := srv.ChatRequests()

	fresh := filepath.Join(t.TempDir(), "fresh")
	if _, err := Run(context.Background(), cfg, RunOptions{Out: fresh, Workers: 2}); err != nil {
		t.Fatal(err)
	}
	if once := srv.ChatRequests() - resumed; resumed != once {
		t.Errorf("stopped and resumed runs made %d requests, one run makes %d", resumed, once)
	}
	if d := sum.LLM.SpentUSD - float64(resumed)*0.0035; d > 1e-9 || d < -1e-9 {
		t.Errorf("spent $%v on the output, want $%v", sum.LLM.SpentUSD, float64(resumed)*0.0035)
	}
	if d := sum.LLM.CostUSD - float64(resumed-first)*0.0035; d > 1e-9 || d < -1e-9 {
		t.Errorf("the last run cost $%v, want $%v", sum.LLM.CostUSD, float64(resumed-first)*0.0035)
	}
	resumedParts := llmParts(t, out)
	for name, b := range llmParts(t, fresh) {
		if !bytes.Equal(b, resumedParts[name]) {
			t.Errorf("%s differs between the resumed and the uninterrupted run", name)
		}
	}
}

// The example config the docs point to is valid as written.
func TestLLMExampleConfig(t *testing.T) {
	cfg, err := LoadConfig(filepath.Join("..", "examples", "multiview-llm.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.LLM == nil || cfg.LLM.APIKeyEnv != "OPENAI_API_KEY" || cfg.LLM.RPM != 500 || len(cfg.LLM.Stages.VQA) != 3 {
		t.Errorf("llm section %+v", cfg.LLM)
	}
}

// With llm.batch the requests go through /v1/batches at half price, the
// records are byte for byte those of a synchronous run, and a rerun
// submits nothing.
func TestLLMBatchMode(t *testing.T) {
	srv := llmtest.New(llmtest.StageAnswer)
	defer srv.Close()
	root := synthtest.CaptionlessScans(t, 11, 1, 2, 4, 8)
	batchCfg := llmConfig(t, root, srv.URL, ", batch: true, batch_poll_interval: 1ms")
	out := filepath.Join(t.TempDir(), "out")
	sum, err := Run(context.Background(), batchCfg, RunOptions{Out: out, Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	llmValidate(t, out)
	if n := srv.ChatRequests(); n != 0 {
		t.Errorf("%d synchronous requests, want every one in a batch", n)
	}
	// One chunk: captions and VQA, then the view checks that need their answers.
	if n := srv.Count("POST /v1/batches"); n != 2 {
		t.Errorf("%d batches, want 2", n)
	}
	paid := int64(0)
	for _, u := range sum.LLM.Stages {
		paid += u.Requests
	}
	if paid == 0 || sum.LLM.CostUSD < float64(paid)*0.00175-1e-9 || sum.LLM.CostUSD > float64(paid)*0.00175+1e-9 {
		t.Errorf("%d requests cost $%v, want half price: $%v", paid, sum.LLM.CostUSD, float64(paid)*0.00175)
	}

	syncOut := filepath.Join(t.TempDir(), "sync")
	if _, err := Run(context.Background(), llmConfig(t, root, srv.URL, ""), RunOptions{Out: syncOut, Workers: 2}); err != nil {
		t.Fatal(err)
	}
	if n := srv.ChatRequests(); int64(n) != paid {
		t.Errorf("the synchronous run made %d requests, the batches held %d", n, paid)
	}
	batchParts, syncParts := llmParts(t, out), llmParts(t, syncOut)
	if len(batchParts) == 0 || len(batchParts) != len(syncParts) {
		t.Fatalf("%d parts in batch mode, %d synchronously", len(batchParts), len(syncParts))
	}
	for name, b := range syncParts {
		if !bytes.Equal(b, batchParts[name]) {
			t.Errorf("%s differs between batch and synchronous runs", name)
		}
	}

	keepOnlyLLM(t, out)
	files, chats := srv.Count("POST /v1/files"), srv.ChatRequests()
	if _, err := Run(context.Background(), batchCfg, RunOptions{Out: out, Workers: 2}); err != nil {
		t.Fatal(err)
	}
	if srv.Count("POST /v1/files") != files || srv.ChatRequests() != chats {
		t.Errorf("the rerun uploaded %d files and made %d requests, want none", srv.Count("POST /v1/files")-files, srv.ChatRequests()-chats)
	}
}

// Shard processes batch their own items under their own job names, and
// the finalized dataset is the one a single synchronous run makes.
func TestLLMBatchShards(t *testing.T) {
	srv := llmtest.New(llmtest.StageAnswer)
	defer srv.Close()
	root := synthtest.CaptionlessScans(t, 11, 2, 4, 2, 8)
	cfg := llmConfig(t, root, srv.URL, ", batch: true, batch_poll_interval: 1ms")
	cfg.Output.ItemsPerPart = 1
	out := filepath.Join(t.TempDir(), "out")
	for i := range 2 {
		if _, err := Run(context.Background(), cfg, RunOptions{Out: out, Workers: 2, Shard: Shard{Index: i, Count: 2}}); err != nil {
			t.Fatalf("shard %d/2: %v", i, err)
		}
	}
	if _, err := Finalize(context.Background(), localStore(t, out)); err != nil {
		t.Fatal(err)
	}
	llmValidate(t, out)
	if n := srv.ChatRequests(); n != 0 {
		t.Errorf("%d synchronous requests, want every one in a batch", n)
	}
	// Shard 0 holds the two 2-view items (parts 0 and 2): one job asks
	// their questions, and no view is checked. Shard 1 holds the 4- and
	// 8-view items: one job asks, one checks.
	var jobs []string
	states, _ := filepath.Glob(filepath.Join(out, "llm", "batches", "*.json"))
	for _, p := range states {
		jobs = append(jobs, strings.TrimPrefix(strings.TrimSuffix(filepath.Base(p), ".json"), "run-"+cfg.Hash()[:12]+"-"))
	}
	if fmt.Sprint(jobs) != "[00000000-ask 00000001-ask 00000001-check]" || srv.Count("POST /v1/batches") != 3 {
		t.Errorf("jobs %v, %d batches", jobs, srv.Count("POST /v1/batches"))
	}

	single := filepath.Join(t.TempDir(), "single")
	syncCfg := llmConfig(t, root, srv.URL, "")
	syncCfg.Output.ItemsPerPart = 1
	if _, err := Run(context.Background(), syncCfg, RunOptions{Out: single, Workers: 2}); err != nil {
		t.Fatal(err)
	}
	a, b := readRecords(t, out), readRecords(t, single)
	if len(a) == 0 || len(a) != len(b) {
		t.Fatalf("%d records from the shards, %d from one run", len(a), len(b))
	}
	for n := range a {
		ja, _ := json.Marshal(a[n])
		jb, _ := json.Marshal(b[n])
		if !bytes.Equal(ja, jb) {
			t.Errorf("record %d differs: %s vs %s", n, a[n].ID, b[n].ID)
		}
	}
}
