package llmstage_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	openai "github.com/sashabaranov/go-openai"

	"github.com/boostgen/boostgen/gen/llmstage"
	"github.com/boostgen/boostgen/internal/blob"
	"github.com/boostgen/boostgen/internal/llm"
	"github.com/boostgen/boostgen/internal/llm/llmtest"
)

// script answers requests with the given contents in order and records
// every request it saw.
type script struct {
	mu      sync.Mutex
	answers []string
	seen    []openai.ChatCompletionRequest
}

func (s *script) answer(req openai.ChatCompletionRequest) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seen = append(s.seen, req)
	if len(s.answers) == 0 {
		return "", errors.New("script: no answer left")
	}
	a := s.answers[0]
	s.answers = s.answers[1:]
	return a, nil
}

func (s *script) requests() []openai.ChatCompletionRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]openai.ChatCompletionRequest(nil), s.seen...)
}

type env struct {
	srv   *llmtest.Server
	store blob.Store
	gen   *llmstage.Generator
	cli   *llm.Client
}

func newEnv(t *testing.T, answer llmtest.AnswerFunc, mut func(*llm.Config)) *env {
	t.Helper()
	srv := llmtest.New(answer)
	t.Cleanup(srv.Close)
	store, err := blob.NewLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	e := &env{srv: srv, store: store}
	e.gen, e.cli = e.generator(t, mut)
	return e
}

func (e *env) generator(t *testing.T, mut func(*llm.Config)) (*llmstage.Generator, *llm.Client) {
	t.Helper()
	cfg := llm.Config{BaseURL: e.srv.URL, Model: "gpt-4o-2024-08-06", Detail: "high",
		MaxRetries: 2, Timeout: llm.Duration(5 * time.Second), PriceInputPer1M: 10}
	if mut != nil {
		mut(&cfg)
	}
	c, err := llm.New(cfg, llm.Options{Store: e.store, Sleep: func(ctx context.Context, d time.Duration) error { return ctx.Err() }})
	if err != nil {
		t.Fatal(err)
	}
	g, err := llmstage.New(c, llmstage.DefaultPrompts())
	if err != nil {
		t.Fatal(err)
	}
	return g, c
}

var (
	img1 = llm.Image{Name: "scene1/000.jpg", MIME: "image/jpeg", Data: []byte("\xff\xd8first")}
	img2 = llm.Image{Name: "scene1/040.jpg", MIME: "image/jpeg", Data: []byte("\xff\xd8second")}
)

func words(n int) string { return strings.TrimSpace(strings.Repeat("word ", n)) }

func open(q, a string) string {
	b, _ := json.Marshal(map[string]string{"question": q, "answer": a})
	return string(b)
}

func mc(q string, cands []string, idx int) string {
	b, _ := json.Marshal(map[string]any{"question": q, "candidates": cands, "answer_index": idx})
	return string(b)
}

func cands(a, b, c, d int) []string {
	return []string{"alpha " + words(a-1), "bravo " + words(b-1), "charlie " + words(c-1), "delta " + words(d-1)}
}

func TestMultiViewVQA(t *testing.T) {
	good := words(20)
	tests := []struct {
		name       string
		kind       llmstage.VQAKind
		answers    []string
		wantReqs   int
		wantReject string // substring of the reason; empty: accepted
		wantRetry  string // substring the retry prompt must quote
	}{
		{name: "common accepted", kind: llmstage.Common, answers: []string{open("What is on the table?", good)}, wantReqs: 1},
		{name: "adversarial accepted", kind: llmstage.Adversarial, answers: []string{open("Where is the red car?", good)}, wantReqs: 1},
		{name: "short answer retried then accepted", kind: llmstage.Common,
			answers:  []string{open("Q?", words(5)), open("Q?", good)},
			wantReqs: 2, wantRetry: "the answer has 5 words; it must have 10 to 80"},
		{name: "long answer rejected after one retry", kind: llmstage.Common,
			answers:  []string{open("Q?", words(81)), open("Q?", words(90))},
			wantReqs: 2, wantRetry: "81 words", wantReject: "the answer has 90 words; it must have 10 to 80"},
		{name: "not JSON then JSON", kind: llmstage.Common,
			answers:  []string{`{"question": "Q?", "answer": `, open("Q?", good)},
			wantReqs: 2, wantRetry: "not valid JSON"},
		{name: "schema violation rejected with the schema's reason", kind: llmstage.Adversarial,
			answers:  []string{`{"question":"Q?"}`, `{"question":"Q?","answer":"x","extra":1}`},
			wantReqs: 2, wantRetry: "missing property 'answer'", wantReject: "additional properties 'extra' not allowed"},
		{name: "multi-choice accepted", kind: llmstage.MultiChoice,
			answers: []string{mc("Which object is visible in both?", cands(6, 7, 8, 9), 3)}, wantReqs: 1},
		{name: "three candidates", kind: llmstage.MultiChoice,
			answers:  []string{mc("Q?", cands(6, 7, 8, 9)[:3], 1), mc("Q?", cands(6, 7, 8, 9)[:3], 1)},
			wantReqs: 2, wantReject: "there are 3 candidates; there must be exactly 4"},
		{name: "candidate too long", kind: llmstage.MultiChoice,
			answers:  []string{mc("Q?", cands(6, 21, 8, 9), 1), mc("Q?", cands(6, 7, 8, 9), 2)},
			wantReqs: 2, wantRetry: "candidate B has 21 words; it must have 5 to 20"},
		{name: "answer index out of range", kind: llmstage.MultiChoice,
			answers:  []string{mc("Q?", cands(6, 7, 8, 9), 0), mc("Q?", cands(6, 7, 8, 9), 5)},
			wantReqs: 2, wantReject: "answer_index is 5; it must be 1 to 4"},
		{name: "duplicate candidates make two correct", kind: llmstage.MultiChoice,
			answers:  []string{mc("Q?", []string{words(6), "x " + words(6), words(6), "y " + words(6)}, 1), mc("Q?", cands(6, 7, 8, 9), 1)},
			wantReqs: 2, wantRetry: "candidates A and C are the same"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &script{answers: tt.answers}
			e := newEnv(t, s.answer, nil)
			qa, err := e.gen.MultiViewVQA(context.Background(), img1, img2, tt.kind)
			reqs := s.requests()
			if len(reqs) != tt.wantReqs {
				t.Errorf("%d requests, want %d", len(reqs), tt.wantReqs)
			}
			if tt.wantRetry != "" && len(reqs) > 1 {
				last := reqs[1].Messages[len(reqs[1].Messages)-1].Content
				if !strings.Contains(last, "Your previous answer was rejected: ") || !strings.Contains(last, tt.wantRetry) {
					t.Errorf("retry prompt %q does not quote %q", last, tt.wantRetry)
				}
				if prev := reqs[1].Messages[len(reqs[1].Messages)-2]; prev.Role != "assistant" || prev.Content != tt.answers[0] {
					t.Errorf("retry does not show the rejected answer: %+v", prev)
				}
			}
			if tt.wantReject != "" {
				var rej *llmstage.RejectError
				if !errors.As(err, &rej) || !errors.Is(err, llmstage.ErrRejected) {
					t.Fatalf("err = %v, want a *RejectError", err)
				}
				if !strings.Contains(rej.Reason, tt.wantReject) {
					t.Errorf("reason %q, want it to contain %q", rej.Reason, tt.wantReject)
				}
				if !strings.Contains(err.Error(), img1.Name) || rej.Stage != llmstage.StageVQA {
					t.Errorf("reject %q should name the stage and the images", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if qa.Kind != tt.kind || qa.Question == "" || qa.Answer == "" {
				t.Errorf("qa = %+v", qa)
			}
			if tt.kind == llmstage.MultiChoice && (len(qa.Candidates) != 4 || qa.Answer != qa.Candidates[qa.Correct]) {
				t.Errorf("multi-choice qa = %+v", qa)
			}
		})
	}
}

func TestVQARequestUsesTable10AndBothImages(t *testing.T) {
	s := &script{answers: []string{open("Q?", words(20)), open("Q?", words(20)), mc("Q?", cands(6, 7, 8, 9), 2)}}
	e := newEnv(t, s.answer, nil)
	ctx := context.Background()
	for _, k := range llmstage.VQAKinds {
		if _, err := e.gen.MultiViewVQA(ctx, img1, img2, k); err != nil {
			t.Fatalf("%s: %v", k, err)
		}
	}
	p := llmstage.DefaultPrompts()
	const table10System = "You are a helpful multimodal assistant.\nGenerate question-answer pairs for given two images.\nBoth images are came from same scene.\nWhen referring to the image, please call it the first image or the second image."
	if p.System != table10System {
		t.Errorf("system prompt is not Table 10's:\n%s", p.System)
	}
	if !strings.HasSuffix(p.MultiChoiceVQA, "Each candidates should be in length between 5 and 20 words.") ||
		!strings.HasSuffix(p.CommonVQA, "The answer should be in length between 10 and 80 words.") {
		t.Error("common or multi-choice prompt is not Table 10's")
	}
	wantPrompt := map[int]string{0: p.CommonVQA, 1: p.AdversarialVQA, 2: p.MultiChoiceVQA}
	wantSchema := map[int]string{0: "vqa_open", 1: "vqa_open", 2: "vqa_multi_choice"}
	for i, r := range s.requests() {
		if r.Messages[0].Role != "system" || r.Messages[0].Content != p.System {
			t.Errorf("request %d: system message %+v", i, r.Messages[0])
		}
		parts := r.Messages[1].MultiContent
		if len(parts) != 3 || parts[0].Text != wantPrompt[i] {
			t.Fatalf("request %d: user message parts %+v", i, parts)
		}
		for j, want := range []string{"data:image/jpeg;base64,/9hmaXJzdA==", "data:image/jpeg;base64,/9hzZWNvbmQ="} {
			if got := parts[j+1].ImageURL; got.URL != want || got.Detail != "high" {
				t.Errorf("request %d image %d: %+v, want %s with detail high", i, j, got, want)
			}
		}
		rf := r.ResponseFormat
		if rf == nil || rf.Type != "json_schema" || rf.JSONSchema.Name != wantSchema[i] || !rf.JSONSchema.Strict {
			t.Errorf("request %d: response_format %+v, want strict %s", i, rf, wantSchema[i])
		}
	}
}

func TestCaptions(t *testing.T) {
	capt := func(short, detailed int) string {
		b, _ := json.Marshal(map[string]string{"short_caption": words(short), "detailed_caption": words(detailed)})
		return string(b)
	}
	tests := []struct {
		name       string
		views      []llm.Image
		answers    []string
		wantReject string
		wantText   string
	}{
		{"one image", []llm.Image{img1}, []string{capt(10, 60)}, "", "Describe this image."},
		{"view set", []llm.Image{img1, img2}, []string{capt(10, 60)}, "", "Describe these 2 images of the same scene."},
		{"short caption too long, then fine", []llm.Image{img1}, []string{capt(31, 60), capt(12, 60)}, "", ""},
		{"detailed caption too short twice", []llm.Image{img1}, []string{capt(10, 20), capt(10, 39)}, "the detailed caption has 39 words; it must have 40 to 150", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &script{answers: tt.answers}
			e := newEnv(t, s.answer, nil)
			turns, err := e.gen.Captions(context.Background(), tt.views)
			if tt.wantReject != "" {
				if !errors.Is(err, llmstage.ErrRejected) || !strings.Contains(err.Error(), tt.wantReject) {
					t.Fatalf("err = %v, want reject %q", err, tt.wantReject)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			p := llmstage.DefaultPrompts()
			if turns[0].Question != p.CaptionShortQuestion || turns[1].Question != p.CaptionDetailedQuestion ||
				wordCount(turns[0].Answer) >= wordCount(turns[1].Answer) {
				t.Errorf("turns = %+v", turns)
			}
			req := s.requests()[0]
			parts := req.Messages[1].MultiContent
			if len(parts) != 1+len(tt.views) {
				t.Errorf("sent %d parts, want the text and %d images", len(parts), len(tt.views))
			}
			if tt.wantText != "" && !strings.HasPrefix(parts[0].Text, tt.wantText) {
				t.Errorf("caption prompt %q, want it to start %q", parts[0].Text, tt.wantText)
			}
		})
	}
}

func wordCount(s string) int { return len(strings.Fields(s)) }

func TestCheckView(t *testing.T) {
	pairs := []llmstage.QA{{Question: "Is the lamp left of the sofa?", Answer: "Yes."},
		{Question: "What is on the table?", Answer: "A blue vase."}, {Question: "How many chairs?", Answer: "Two."}}
	verdicts := func(v ...any) string {
		var out []map[string]any
		for i := 0; i < len(v); i += 2 {
			out = append(out, map[string]any{"qa_index": v[i], "holds": v[i+1], "reason": "seen"})
		}
		b, _ := json.Marshal(map[string]any{"verdicts": out})
		return string(b)
	}
	tests := []struct {
		name       string
		answers    []string
		want       []bool
		wantReject string
	}{
		{"in order", []string{verdicts(1, true, 2, false, 3, true)}, []bool{true, false, true}, ""},
		{"out of order is put back in order", []string{verdicts(3, false, 1, true, 2, true)}, []bool{true, true, false}, ""},
		{"missing verdict, then complete", []string{verdicts(1, true, 2, true), verdicts(1, true, 2, true, 3, true)}, []bool{true, true, true}, ""},
		{"duplicate then out of range", []string{verdicts(1, true, 1, false, 2, true), verdicts(1, true, 2, true, 4, true)}, nil, "qa_index 4 is not a pair number (1 to 3)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &script{answers: tt.answers}
			e := newEnv(t, s.answer, nil)
			cand := llm.Image{Name: "scene1/020.jpg", Data: []byte("mid")}
			got, err := e.gen.CheckView(context.Background(), []llm.Image{img1, img2}, cand, pairs)
			if tt.wantReject != "" {
				if !errors.Is(err, llmstage.ErrRejected) || !strings.Contains(err.Error(), tt.wantReject) || !strings.Contains(err.Error(), "scene1/020.jpg") {
					t.Fatalf("err = %v, want reject %q naming the candidate", err, tt.wantReject)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for i, v := range got {
				if v.QA != i || v.Holds != tt.want[i] {
					t.Errorf("verdict %d = %+v, want holds=%v", i, v, tt.want[i])
				}
			}
			req := s.requests()[0]
			parts := req.Messages[1].MultiContent
			if len(parts) != 4 || !strings.Contains(parts[0].Text, "The first 2 images are the anchor views") ||
				!strings.Contains(parts[0].Text, "3. Q: How many chairs?\n   A: Two.") {
				t.Errorf("check request text %q with %d parts", parts[0].Text, len(parts))
			}
			if parts[3].ImageURL.URL != "data:image/jpeg;base64,bWlk" {
				t.Errorf("the candidate must be the last image, got %s", parts[3].ImageURL.URL)
			}
		})
	}
}

func TestKeepAndExpandViews(t *testing.T) {
	v := func(holds ...bool) []llmstage.Verdict {
		out := make([]llmstage.Verdict, len(holds))
		for i, h := range holds {
			out[i] = llmstage.Verdict{QA: i, Holds: h}
		}
		return out
	}
	verifiedTests := []struct {
		name string
		v    []llmstage.Verdict
		want bool
	}{
		{"all hold", v(true, true, true), true},
		{"two of three", v(true, false, true), true},
		{"exactly half is not more than half", v(true, false, true, false), false},
		{"one of three", v(false, false, true), false},
		{"no pairs", nil, false},
	}
	for _, tt := range verifiedTests {
		if got := llmstage.Verified(tt.v); got != tt.want {
			t.Errorf("Verified(%s) = %v, want %v", tt.name, got, tt.want)
		}
	}

	cands := []int{10, 20, 30, 40}
	kept, err := llmstage.KeepViews(cands, [][]llmstage.Verdict{v(true, true), v(true, false), v(true), v(false, true, true)})
	if err != nil || fmt.Sprint(kept) != "[10 30 40]" {
		t.Errorf("KeepViews = %v, %v; want [10 30 40]", kept, err)
	}
	if _, err := llmstage.KeepViews(cands, nil); err == nil {
		t.Error("KeepViews with mismatched lengths must fail")
	}

	expandTests := []struct {
		kept  []int
		want4 string
		want8 string
	}{
		{[]int{1}, "", ""},
		{[]int{1, 2}, "[0 1 2 99]", ""},
		{[]int{1, 2, 3, 4, 5}, "[0 2 4 99]", ""},
		{[]int{1, 2, 3, 4, 5, 6}, "[0 2 5 99]", "[0 1 2 3 4 5 6 99]"},
		{[]int{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}, "[0 4 10 99]", "[0 2 4 6 8 10 12 99]"},
	}
	for _, tt := range expandTests {
		got := llmstage.ExpandViews(0, 99, tt.kept)
		g4, g8 := "", ""
		if s, ok := got[4]; ok {
			g4 = fmt.Sprint(s)
		}
		if s, ok := got[8]; ok {
			g8 = fmt.Sprint(s)
		}
		if g4 != tt.want4 || g8 != tt.want8 {
			t.Errorf("ExpandViews(kept=%v) = 4:%s 8:%s; want 4:%s 8:%s", tt.kept, g4, g8, tt.want4, tt.want8)
		}
	}
}

// deterministic answers by request content, so reruns and batches agree.
func byKind(req openai.ChatCompletionRequest) (string, error) {
	name := req.ResponseFormat.JSONSchema.Name
	last := req.Messages[len(req.Messages)-1]
	retry := last.Role == "user" && strings.HasPrefix(last.Content, "Your previous answer")
	img := ""
	for _, p := range req.Messages[1].MultiContent {
		if p.ImageURL != nil {
			img += p.ImageURL.URL[len(p.ImageURL.URL)-4:]
		}
	}
	switch {
	case name == "vqa_open" && strings.Contains(img, "YmFk"): // pairs whose image is "bad": always too short
		return open("Q "+img+"?", words(3)), nil
	case name == "vqa_open" && strings.Contains(img, "Zml4") && !retry: // "fix": short first, right on retry
		return open("Q "+img+"?", words(4)), nil
	case name == "vqa_open":
		return open("Q "+img+"?", words(15)), nil
	case name == "vqa_multi_choice":
		return mc("Q "+img+"?", cands(5, 6, 7, 8), 4), nil
	}
	return "", fmt.Errorf("unexpected schema %s", name)
}

func TestRerunWithCacheMakesNoRequests(t *testing.T) {
	e := newEnv(t, byKind, nil)
	ctx := context.Background()
	pairs := [][2]llm.Image{
		{img1, img2},
		{img1, {Name: "fix.jpg", Data: []byte("fix")}},
		{img1, {Name: "bad.jpg", Data: []byte("bad")}},
	}
	run := func(g *llmstage.Generator) (out []string) {
		for _, p := range pairs {
			for _, k := range llmstage.VQAKinds {
				qa, err := g.MultiViewVQA(ctx, p[0], p[1], k)
				if err != nil {
					if !errors.Is(err, llmstage.ErrRejected) {
						t.Fatal(err)
					}
					out = append(out, "rejected: "+err.Error())
					continue
				}
				out = append(out, qa.Question+" | "+qa.Answer)
			}
		}
		return out
	}
	first := run(e.gen)
	n := e.srv.ChatRequests()
	// 9 first requests, plus one retry each for "fix" and "bad" in the two
	// open kinds.
	if n != 13 {
		t.Errorf("first run made %d requests, want 13", n)
	}
	rejects := 0
	for _, r := range first {
		if strings.HasPrefix(r, "rejected: ") {
			rejects++
			if !strings.Contains(r, "bad.jpg") || !strings.Contains(r, "the answer has 3 words") {
				t.Errorf("reject without a clear reason: %s", r)
			}
		}
	}
	if rejects != 2 {
		t.Errorf("%d rejects, want 2 (bad.jpg, common and adversarial)", rejects)
	}

	g2, _ := e.generator(t, nil)
	second := run(g2)
	if got := e.srv.ChatRequests(); got != n {
		t.Errorf("rerun made %d new requests, want 0", got-n)
	}
	if fmt.Sprint(first) != fmt.Sprint(second) {
		t.Errorf("rerun results differ:\n%v\n%v", first, second)
	}
}

func TestBatchPrefillThenStagesAreFree(t *testing.T) {
	e := newEnv(t, byKind, nil)
	ctx := context.Background()
	pairs := [][2]llm.Image{{img1, img2}, {img2, img1}}
	var reqs []llm.Request
	for _, p := range pairs {
		for _, k := range llmstage.VQAKinds {
			r, err := e.gen.MultiViewVQARequest(p[0], p[1], k)
			if err != nil {
				t.Fatal(err)
			}
			reqs = append(reqs, r)
		}
	}
	res, err := e.cli.RunBatch(ctx, "mvvqa-shard-0", reqs)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range res {
		if r.Err != nil {
			t.Fatalf("batch result %d: %v", i, r.Err)
		}
	}
	for _, p := range pairs {
		for _, k := range llmstage.VQAKinds {
			if _, err := e.gen.MultiViewVQA(ctx, p[0], p[1], k); err != nil {
				t.Fatal(err)
			}
		}
	}
	if n := e.srv.ChatRequests(); n != 0 {
		t.Errorf("stages made %d synchronous requests after the batch, want 0", n)
	}
	if u := e.cli.Usage()[llmstage.StageVQA]; u.Requests != 6 || u.CacheHits != 6 {
		t.Errorf("usage %+v, want 6 paid in the batch and 6 cache hits", u)
	}
}

func TestClientErrorsAreNotRejects(t *testing.T) {
	tests := []struct {
		name  string
		fault llmtest.Fault
		mut   func(*llm.Config)
		want  error
	}{
		{"budget", llmtest.None, func(c *llm.Config) { c.BudgetUSD = 1e-9; c.PriceInputPer1M = 10 }, llm.ErrBudget},
		{"quota", llmtest.InsufficientQuota, nil, llm.ErrQuota},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, byKind, nil)
			e.srv.Fail(tt.fault)
			// Spend something first so the tiny budget is reached.
			if tt.want == llm.ErrBudget {
				g, _ := e.generator(t, tt.mut)
				if _, err := g.MultiViewVQA(context.Background(), img1, img2, llmstage.Common); err != nil {
					t.Fatal(err)
				}
				_, err := g.MultiViewVQA(context.Background(), img2, img1, llmstage.Common)
				if !errors.Is(err, tt.want) || errors.Is(err, llmstage.ErrRejected) {
					t.Fatalf("err = %v, want %v and not a reject", err, tt.want)
				}
				return
			}
			_, err := e.gen.MultiViewVQA(context.Background(), img1, img2, llmstage.Common)
			if !errors.Is(err, tt.want) || errors.Is(err, llmstage.ErrRejected) {
				t.Fatalf("err = %v, want %v and not a reject", err, tt.want)
			}
		})
	}
}

func TestLoadPrompts(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	def := llmstage.DefaultPrompts()
	tests := []struct {
		name    string
		body    string
		check   func(p llmstage.Prompts) bool
		wantErr string
	}{
		{"override one prompt", "common_vqa: Ask something.\n",
			func(p llmstage.Prompts) bool { return p.CommonVQA == "Ask something." && p.System == def.System }, ""},
		{"override a limit", "limits:\n  answer_words: [5, 50]\n",
			func(p llmstage.Prompts) bool {
				return p.Limits.AnswerWords == [2]int{5, 50} && p.Limits.CandidateWords == def.Limits.CandidateWords
			}, ""},
		{"unknown key", "comon_vqa: typo\n", nil, "comon_vqa"},
		{"impossible limit", "limits:\n  answer_words: [50, 5]\n", nil, "limits.answer_words"},
		{"emptied prompt", "system: \"\"\n", nil, "system is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := write(strings.ReplaceAll(tt.name, " ", "_")+".yaml", tt.body)
			p, err := llmstage.LoadPrompts(path)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), path) {
					t.Fatalf("err = %v, want one naming %s and %q", err, path, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !tt.check(p) {
				t.Errorf("prompts = %+v", p)
			}
		})
	}
}
