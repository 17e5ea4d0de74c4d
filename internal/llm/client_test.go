package llm_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	openai "github.com/sashabaranov/go-openai"

	"github.com/boostgen/boostgen/internal/blob"
	"github.com/boostgen/boostgen/internal/llm"
	"github.com/boostgen/boostgen/internal/llm/llmtest"
)

const (
	keyEnv = "BOOSTGEN_TEST_LLM_KEY"
	key    = "sk-test-9f8e7d6c5b4a-DO-NOT-LEAK"
)

// echo answers with the last user text, so each request's answer is its own.
func echo(req openai.ChatCompletionRequest) (string, error) {
	m := req.Messages[len(req.Messages)-1]
	if m.Content != "" {
		return "answer to " + m.Content, nil
	}
	for _, p := range m.MultiContent {
		if p.Type == openai.ChatMessagePartTypeText {
			return "answer to " + p.Text, nil
		}
	}
	return "answer", nil
}

// sleeper stands in for time.Sleep: it records the waits and returns at once.
type sleeper struct {
	mu    sync.Mutex
	waits []time.Duration
	now   time.Time // a fake clock the waits advance
}

func (s *sleeper) Now() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.now
}

func (s *sleeper) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	s.waits = append(s.waits, d)
	s.now = s.now.Add(d)
	s.mu.Unlock()
	return nil
}

func (s *sleeper) Waits() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Duration(nil), s.waits...)
}

type harness struct {
	srv    *llmtest.Server
	store  *blob.Local
	sleep  *sleeper
	logs   *syncBuffer
	client *llm.Client
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func baseConfig(url string) llm.Config {
	return llm.Config{
		BaseURL: url, Model: "gpt-4o-2024-08-06", APIKeyEnv: keyEnv,
		Concurrency: 4, Timeout: llm.Duration(5 * time.Second), MaxRetries: 3,
		BackoffBase: llm.Duration(time.Second), BackoffMax: llm.Duration(8 * time.Second), RetrySeed: 1,
		PriceInputPer1M: 2.5, PriceOutputPer1M: 10, Detail: "low",
	}
}

func newHarness(t *testing.T, answer llmtest.AnswerFunc, mut func(*llm.Config)) *harness {
	t.Helper()
	t.Setenv(keyEnv, key)
	h := &harness{srv: llmtest.New(answer), sleep: &sleeper{now: time.Unix(1e9, 0)}, logs: &syncBuffer{}}
	t.Cleanup(h.srv.Close)
	var err error
	h.store, err = blob.NewLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	h.client = h.newClient(t, mut)
	return h
}

// newClient makes another client on the same server and store, as a rerun
// of the program would.
func (h *harness) newClient(t *testing.T, mut func(*llm.Config)) *llm.Client {
	t.Helper()
	cfg := baseConfig(h.srv.URL)
	if mut != nil {
		mut(&cfg)
	}
	c, err := llm.New(cfg, llm.Options{
		Store:  h.store,
		Logger: slog.New(slog.NewJSONHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Sleep:  h.sleep.Sleep,
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func textRequest(stage, text string) llm.Request {
	return llm.Request{Stage: stage, Messages: []llm.Message{
		{Role: "system", Text: "You are a helpful multimodal assistant."},
		{Role: "user", Text: text, Images: []llm.Image{{Name: "a.jpg", Data: []byte("jpeg-bytes-" + text)}}},
	}}
}

func TestEveryRequestOnceAndRerunIsFree(t *testing.T) {
	h := newHarness(t, echo, nil)
	ctx := context.Background()
	const n = 20
	reqs := make([]llm.Request, n)
	for i := range reqs {
		reqs[i] = textRequest("vqa", fmt.Sprintf("question %d", i))
	}
	run := func(c *llm.Client) []llm.Response {
		out := make([]llm.Response, n)
		var wg sync.WaitGroup
		errs := make(chan error, n)
		for i := range reqs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r, err := c.Chat(ctx, reqs[i])
				if err != nil {
					errs <- err
				}
				out[i] = r
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		return out
	}

	first := run(h.client)
	if got := h.srv.ChatRequests(); got != n {
		t.Fatalf("first run made %d requests, want exactly %d", got, n)
	}
	for i, r := range first {
		if want := fmt.Sprintf("answer to question %d", i); r.Content != want || r.Cached {
			t.Errorf("request %d: got %q cached=%v, want %q from the server", i, r.Content, r.Cached, want)
		}
	}
	u := h.client.Usage()["vqa"]
	if u.Requests != n || u.PromptTokens != n*1000 || u.CompletionTokens != n*100 {
		t.Errorf("usage = %+v, want %d requests, %d prompt and %d completion tokens", u, n, n*1000, n*100)
	}
	wantCost := n * (1000*2.5 + 100*10) / 1e6
	if diff := u.CostUSD - wantCost; diff > 1e-9 || diff < -1e-9 {
		t.Errorf("cost = %v, want %v", u.CostUSD, wantCost)
	}

	// A rerun (new client, same store) pays for nothing.
	again := h.newClient(t, nil)
	second := run(again)
	if got := h.srv.ChatRequests(); got != n {
		t.Fatalf("rerun made %d new requests, want 0", got-n)
	}
	for i := range second {
		if second[i].Content != first[i].Content || !second[i].Cached {
			t.Errorf("request %d from cache: %q cached=%v, want %q cached", i, second[i].Content, second[i].Cached, first[i].Content)
		}
	}
	if u := again.Usage()["vqa"]; u.CacheHits != n || u.Requests != 0 || u.CostUSD != 0 {
		t.Errorf("rerun usage = %+v, want %d cache hits and no cost", u, n)
	}
}

func TestCacheKeyCoversWhatChangesTheAnswer(t *testing.T) {
	h := newHarness(t, echo, nil)
	ctx := context.Background()
	base := textRequest("vqa", "q")
	if _, err := h.client.Chat(ctx, base); err != nil {
		t.Fatal(err)
	}
	otherImage := textRequest("vqa", "q")
	otherImage.Messages[1].Images[0].Data = []byte("different pixels")
	otherDetail := textRequest("vqa", "q")
	otherDetail.Detail = "high"
	withSchema := textRequest("vqa", "q")
	withSchema.Schema = &llm.Schema{Name: "s", JSON: json.RawMessage(`{"type":"object","properties":{"a":{"type":"string"}},"required":["a"],"additionalProperties":false}`)}
	otherStage := textRequest("caption", "q") // the stage is bookkeeping only

	tests := []struct {
		name    string
		req     llm.Request
		mut     func(*llm.Config)
		wantHit bool
	}{
		{"same request", base, nil, true},
		{"stage name only", otherStage, nil, true},
		{"other image bytes", otherImage, nil, false},
		{"other detail", otherDetail, nil, false},
		{"response schema", withSchema, nil, false},
		{"other model", base, func(c *llm.Config) { c.Model = "gpt-4o-mini" }, false},
		{"other temperature", base, func(c *llm.Config) { c.Temperature = 0.7 }, false},
		{"other max tokens", base, func(c *llm.Config) { c.MaxTokens = 300 }, false},
		{"other key source", base, func(c *llm.Config) { c.APIKeyEnv = ""; c.APIKeyFile = writeKeyFile(t) }, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := h.newClient(t, tt.mut)
			hit, err := c.Cached(ctx, tt.req)
			if err != nil {
				t.Fatal(err)
			}
			if hit != tt.wantHit {
				t.Errorf("cache hit = %v, want %v", hit, tt.wantHit)
			}
		})
	}
}

func writeKeyFile(t *testing.T) string {
	p := filepath.Join(t.TempDir(), "key")
	if err := os.WriteFile(p, []byte(key+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestRetries(t *testing.T) {
	tests := []struct {
		name      string
		faults    []llmtest.Fault
		timeout   time.Duration
		wantErr   string // substring; empty for success
		wantQuota bool
		wantReqs  int
		wantWaits []time.Duration // exact waits; nil: check wantWaitN
		wantWaitN int
	}{
		{name: "429 honours Retry-After", faults: []llmtest.Fault{llmtest.RateLimit},
			wantReqs: 2, wantWaits: []time.Duration{7 * time.Second}},
		{name: "500 backs off and retries", faults: []llmtest.Fault{llmtest.ServerError, llmtest.ServerError},
			wantReqs: 3, wantWaitN: 2},
		{name: "malformed JSON body is retried", faults: []llmtest.Fault{llmtest.MalformedJSON},
			wantReqs: 2, wantWaitN: 1},
		{name: "stall times out and is retried", faults: []llmtest.Fault{llmtest.Stall}, timeout: 150 * time.Millisecond,
			wantReqs: 2, wantWaitN: 1},
		{name: "insufficient_quota is not retried", faults: []llmtest.Fault{llmtest.InsufficientQuota},
			wantErr: "insufficient_quota", wantQuota: true, wantReqs: 1, wantWaitN: 0},
		{name: "other 4xx is not retried", faults: []llmtest.Fault{llmtest.BadRequest},
			wantErr: "HTTP 400", wantReqs: 1, wantWaitN: 0},
		{name: "gives up after max retries", faults: []llmtest.Fault{llmtest.ServerError, llmtest.ServerError, llmtest.ServerError, llmtest.ServerError},
			wantErr: "gave up after 4 attempts: HTTP 500", wantReqs: 4, wantWaitN: 3},
		{name: "malformed JSON every time is rejected with the reason", faults: []llmtest.Fault{llmtest.MalformedJSON, llmtest.MalformedJSON, llmtest.MalformedJSON, llmtest.MalformedJSON},
			wantErr: "malformed response: body is not valid JSON", wantReqs: 4, wantWaitN: 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, echo, func(c *llm.Config) {
				if tt.timeout > 0 {
					c.Timeout = llm.Duration(tt.timeout)
				}
			})
			h.srv.Fail(tt.faults...)
			resp, err := h.client.Chat(context.Background(), textRequest("vqa", "q"))
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("want success, got %v", err)
			case tt.wantErr == "" && resp.Content != "answer to q":
				t.Errorf("content = %q", resp.Content)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("error = %v, want it to contain %q", err, tt.wantErr)
			}
			if got := errors.Is(err, llm.ErrQuota); got != tt.wantQuota {
				t.Errorf("errors.Is(err, ErrQuota) = %v, want %v", got, tt.wantQuota)
			}
			if got := h.srv.ChatRequests(); got != tt.wantReqs {
				t.Errorf("server saw %d requests, want %d", got, tt.wantReqs)
			}
			waits := h.sleep.Waits()
			if tt.wantWaits != nil {
				if fmt.Sprint(waits) != fmt.Sprint(tt.wantWaits) {
					t.Errorf("waits = %v, want %v", waits, tt.wantWaits)
				}
			} else if len(waits) != tt.wantWaitN {
				t.Errorf("waited %d times (%v), want %d", len(waits), waits, tt.wantWaitN)
			}
			// Backoff doubles from 1s with jitter in [d/2, d], capped at 8s.
			for i, w := range waits {
				if tt.wantWaits != nil {
					break
				}
				hi := time.Second << i
				if w < hi/2 || w > hi {
					t.Errorf("wait %d = %v, want within [%v, %v]", i, w, hi/2, hi)
				}
			}
			if tt.wantErr != "" {
				if u := h.client.Usage()["vqa"]; u.Failures != 1 || u.CostUSD != 0 {
					t.Errorf("usage after failure = %+v, want 1 failure and no cost", u)
				}
			}
		})
	}
}

func TestBackoffIsRepeatableWithTheSameSeed(t *testing.T) {
	var runs [][]time.Duration
	for range 2 {
		h := newHarness(t, echo, nil)
		h.srv.Fail(llmtest.ServerError, llmtest.ServerError, llmtest.ServerError)
		if _, err := h.client.Chat(context.Background(), textRequest("vqa", "q")); err != nil {
			t.Fatal(err)
		}
		runs = append(runs, h.sleep.Waits())
	}
	if fmt.Sprint(runs[0]) != fmt.Sprint(runs[1]) {
		t.Errorf("same seed gave different waits: %v and %v", runs[0], runs[1])
	}
}

func TestRateLimitEnforcedByServerIsHonoured(t *testing.T) {
	h := newHarness(t, echo, nil)
	h.srv.Now = h.sleep.Now // the server's limit runs on the faked clock
	h.srv.LimitRPM(60, 1)   // one per second; the second request must wait
	ctx := context.Background()
	for i := range 2 {
		if _, err := h.client.Chat(ctx, textRequest("vqa", fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
	waits := h.sleep.Waits()
	if h.srv.RateLimited() < 1 || len(waits) < 1 || waits[0] != time.Second {
		t.Errorf("rate limited %d times, waits %v: want a 429 and a 1s wait from Retry-After", h.srv.RateLimited(), waits)
	}
}

func TestKeyNeverLeaks(t *testing.T) {
	h := newHarness(t, echo, nil)
	ctx := context.Background()
	// A retry (logged) and then an error reply that quotes the header.
	h.srv.Fail(llmtest.RateLimit, llmtest.EchoAuth)
	_, err := h.client.Chat(ctx, textRequest("vqa", "q"))
	if err == nil {
		t.Fatal("want the 401 as an error")
	}
	if got := h.srv.AuthHeaders()["Bearer "+key]; got != 2 {
		t.Fatalf("server saw the key on %d requests, want 2 (the key must be sent)", got)
	}
	if _, err := h.client.Chat(ctx, textRequest("vqa", "ok")); err != nil {
		t.Fatal(err)
	}
	usage, _ := json.Marshal(h.client.Usage())
	cfg, _ := json.Marshal(h.client.Config())
	secret, _ := baseConfig(h.srv.URL).LoadKey()
	secretJSON, _ := json.Marshal(secret)
	var logged bytes.Buffer
	slog.New(slog.NewTextHandler(&logged, nil)).Info("k", "key", secret, "client", h.client)

	outputs := map[string]string{
		"error":            err.Error(),
		"logs":             h.logs.String(),
		"usage JSON":       string(usage),
		"config JSON":      string(cfg),
		"config %+v":       fmt.Sprintf("%+v", h.client.Config()),
		"client %v":        fmt.Sprintf("%v", h.client),
		"client %+v":       fmt.Sprintf("%+v", h.client),
		"client %#v":       fmt.Sprintf("%#v", h.client),
		"secret %s":        fmt.Sprintf("%s", secret),
		"secret %#v":       fmt.Sprintf("%#v", secret),
		"secret %x":        fmt.Sprintf("%x", secret),
		"secret JSON":      string(secretJSON),
		"slog attrs":       logged.String(),
		"store (cache...)": readTree(t, h.store.Root()),
	}
	if !strings.Contains(h.logs.String(), "retrying") {
		t.Error("the retry was not logged; the log check would prove nothing")
	}
	for name, out := range outputs {
		if strings.Contains(out, key) || strings.Contains(out, "9f8e7d6c5b4a") {
			t.Errorf("%s contains the key: %s", name, out)
		}
	}
	if !strings.Contains(err.Error(), "[redacted]") {
		t.Errorf("error %q should show where the key was removed", err)
	}
	if secret.Reveal() != key {
		t.Error("Reveal must return the key itself")
	}
}

func readTree(t *testing.T, root string) string {
	var b strings.Builder
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			data, _ := os.ReadFile(p)
			b.Write(data)
		}
		return nil
	})
	if b.Len() == 0 {
		t.Error("store is empty; the leak check would prove nothing")
	}
	return b.String()
}

func TestBudgetStopsCleanlyAndResumes(t *testing.T) {
	// Each request: 1000 prompt tokens at $10/M and 100 completion tokens at
	// $0: exactly one cent.
	budget := func(usd float64) func(*llm.Config) {
		return func(c *llm.Config) {
			c.PriceInputPer1M, c.PriceOutputPer1M, c.BudgetUSD, c.Concurrency = 10, 0, usd, 1
		}
	}
	h := newHarness(t, echo, budget(0.025))
	ctx := context.Background()
	var answered int
	var stop error
	for i := range 5 {
		if _, err := h.client.Chat(ctx, textRequest("vqa", fmt.Sprint(i))); err != nil {
			stop = err
			break
		}
		answered++
	}
	if !errors.Is(stop, llm.ErrBudget) {
		t.Fatalf("stop error = %v, want ErrBudget", stop)
	}
	if answered != 3 || h.srv.ChatRequests() != 3 {
		t.Fatalf("answered %d, server saw %d; want 3 of each within a $0.025 budget", answered, h.srv.ChatRequests())
	}
	if got := h.client.SpentUSD(); got < 0.0299 || got > 0.0301 {
		t.Errorf("spent %v, want $0.03", got)
	}

	// Resume with more money: the first three come from the cache.
	more := h.newClient(t, budget(1))
	for i := range 5 {
		if _, err := more.Chat(ctx, textRequest("vqa", fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
	if got := h.srv.ChatRequests(); got != 5 {
		t.Errorf("after resume the server saw %d requests, want 5", got)
	}
	if u := more.Usage()["vqa"]; u.CacheHits != 3 || u.Requests != 2 {
		t.Errorf("resume usage = %+v, want 3 hits and 2 paid", u)
	}
}

func TestBudgetCarriesOverFromEarlierRuns(t *testing.T) {
	h := newHarness(t, echo, nil)
	cfg := baseConfig(h.srv.URL)
	cfg.BudgetUSD = 5
	c, err := llm.New(cfg, llm.Options{Store: h.store, SpentUSD: 5})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Chat(context.Background(), textRequest("vqa", "q")); !errors.Is(err, llm.ErrBudget) {
		t.Fatalf("err = %v, want ErrBudget when earlier runs spent the budget", err)
	}
	if h.srv.ChatRequests() != 0 {
		t.Error("a request was sent over budget")
	}
}

// What others spend while the client runs (another shard process) counts
// from the moment it is set; PaidUSD stays this client's own.
func TestBudgetCountsSpendElsewhere(t *testing.T) {
	h := newHarness(t, echo, func(c *llm.Config) {
		c.PriceInputPer1M, c.PriceOutputPer1M, c.BudgetUSD, c.Concurrency = 10, 0, 0.05, 1 // a cent a request
	})
	ctx := context.Background()
	for _, c := range []struct {
		elsewhere float64
		admitted  bool
	}{
		{0, true},
		{0.04, false}, // 0.04 elsewhere + 0.01 paid: the budget is spent
		{0.035, true},
		{0.03, false},
		{0, true},
	} {
		h.client.SetSpentElsewhereUSD(c.elsewhere)
		before := h.srv.ChatRequests()
		_, err := h.client.Chat(ctx, textRequest("vqa", fmt.Sprint(before, c.elsewhere)))
		if got := err == nil; got != c.admitted || !c.admitted && !errors.Is(err, llm.ErrBudget) {
			t.Fatalf("elsewhere $%v, paid $%v: err %v, want admitted %v", c.elsewhere, h.client.PaidUSD(), err, c.admitted)
		}
		if sent := h.srv.ChatRequests() - before; sent != map[bool]int{true: 1}[c.admitted] {
			t.Fatalf("elsewhere $%v: %d requests sent", c.elsewhere, sent)
		}
		if got, want := h.client.SpentUSD(), c.elsewhere+h.client.PaidUSD(); got < want-1e-9 || got > want+1e-9 {
			t.Errorf("SpentUSD %v, want elsewhere + paid = %v", got, want)
		}
	}
	if got := h.client.PaidUSD(); got < 0.0299 || got > 0.0301 {
		t.Errorf("paid %v, want $0.03", got)
	}
}

func TestInvalidStrictSchemaIsNotRetried(t *testing.T) {
	h := newHarness(t, echo, nil)
	req := textRequest("vqa", "q")
	req.Schema = &llm.Schema{Name: "loose", JSON: json.RawMessage(`{"type":"object","properties":{"a":{"type":"string"}},"required":["a"]}`)}
	_, err := h.client.Chat(context.Background(), req)
	if err == nil || !strings.Contains(err.Error(), "HTTP 400") || !strings.Contains(err.Error(), "additionalProperties") {
		t.Fatalf("err = %v, want the server's 400 about additionalProperties", err)
	}
	if h.srv.ChatRequests() != 1 || len(h.sleep.Waits()) != 0 {
		t.Errorf("%d requests and %d waits, want 1 and 0", h.srv.ChatRequests(), len(h.sleep.Waits()))
	}
}

func TestConfigErrorsNameTheField(t *testing.T) {
	t.Setenv("BOOSTGEN_EMPTY_KEY", "")
	ok := baseConfig("http://127.0.0.1:1/v1")
	tests := []struct {
		name string
		mut  func(*llm.Config)
		want string
	}{
		{"no base url", func(c *llm.Config) { c.BaseURL = "" }, "base_url"},
		{"bad scheme", func(c *llm.Config) { c.BaseURL = "ftp://x" }, "base_url"},
		{"no model", func(c *llm.Config) { c.Model = "" }, "model"},
		{"both key sources", func(c *llm.Config) { c.APIKeyFile = "/k" }, "api_key_env or api_key_file"},
		{"bad detail", func(c *llm.Config) { c.Detail = "ultra" }, "detail"},
		{"azure without version", func(c *llm.Config) { c.APIType = "azure" }, "api_version"},
		{"unset key variable", func(c *llm.Config) { c.APIKeyEnv = "BOOSTGEN_NO_SUCH_VAR" }, "BOOSTGEN_NO_SUCH_VAR"},
		{"empty key variable", func(c *llm.Config) { c.APIKeyEnv = "BOOSTGEN_EMPTY_KEY" }, "BOOSTGEN_EMPTY_KEY"},
		{"missing key file", func(c *llm.Config) { c.APIKeyEnv = ""; c.APIKeyFile = "/nonexistent/key" }, "api_key_file"},
		{"too many batch lines", func(c *llm.Config) { c.BatchMaxRequests = 60000 }, "batch_max_requests"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := ok
			tt.mut(&cfg)
			_, err := llm.New(cfg, llm.Options{})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error = %v, want it to name %q", err, tt.want)
			}
		})
	}
}

func TestConfigJSON(t *testing.T) {
	in := `{"base_url":"https://api.openai.com/v1","model":"gpt-4o","api_key_env":"OPENAI_API_KEY",
		"rpm":500,"tpm":30000,"concurrency":16,"timeout":"90s","batch_poll_interval":60,"budget_usd":25}`
	var c llm.Config
	if err := json.Unmarshal([]byte(in), &c); err != nil {
		t.Fatal(err)
	}
	if c.Timeout.D() != 90*time.Second || c.BatchPollInterval.D() != time.Minute || c.RPM != 500 || c.BudgetUSD != 25 {
		t.Errorf("decoded %+v", c)
	}
	if err := c.Validate(); err != nil {
		t.Error(err)
	}
}
