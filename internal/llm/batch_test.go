package llm_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	openai "github.com/sashabaranov/go-openai"

	"github.com/boostgen/boostgen/internal/llm"
)

func batchRequests(n int) []llm.Request {
	reqs := make([]llm.Request, n)
	for i := range reqs {
		reqs[i] = textRequest("vqa", fmt.Sprintf("question %d", i))
	}
	return reqs
}

func TestBatchEndToEnd(t *testing.T) {
	tests := []struct {
		name      string
		n         int
		prefilled int // answered synchronously first, so not in the batch
		maxReqs   int
		maxBytes  int64
		wantFiles int
	}{
		{"one file", 5, 0, 0, 0, 1},
		{"split by request count", 5, 0, 2, 0, 3},
		{"split by bytes", 4, 0, 0, 500, 4}, // a line is about 450 bytes
		{"cached requests are not sent", 6, 2, 0, 0, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, echo, func(c *llm.Config) {
				c.BatchMaxRequests, c.BatchMaxBytes = tt.maxReqs, tt.maxBytes
				c.PriceInputPer1M, c.PriceOutputPer1M = 10, 0
			})
			ctx := context.Background()
			reqs := batchRequests(tt.n)
			for i := range tt.prefilled {
				if _, err := h.client.Chat(ctx, reqs[i]); err != nil {
					t.Fatal(err)
				}
			}
			syncSpent := h.client.SpentUSD()

			res, err := h.client.RunBatch(ctx, "job-1", reqs)
			if err != nil {
				t.Fatal(err)
			}
			for i, r := range res {
				if want := fmt.Sprintf("answer to question %d", i); r.Err != nil || r.Response.Content != want {
					t.Errorf("result %d = %q, %v; want %q", i, r.Response.Content, r.Err, want)
				}
			}
			if got := h.srv.Count("POST /v1/files"); got != tt.wantFiles {
				t.Errorf("uploaded %d files, want %d", got, tt.wantFiles)
			}
			if got := h.srv.Count("POST /v1/batches"); got != tt.wantFiles {
				t.Errorf("created %d batches, want %d", got, tt.wantFiles)
			}
			// Every line went in exactly once, within the limits.
			lines := 0
			for _, id := range h.srv.FileIDs() {
				data := h.srv.FileContent(id)
				if !bytes.Contains(data, []byte(`"url":"/v1/chat/completions"`)) {
					continue // an output file
				}
				n := bytes.Count(data, []byte("\n"))
				lines += n
				if tt.maxReqs > 0 && n > tt.maxReqs {
					t.Errorf("file %s has %d lines, limit %d", id, n, tt.maxReqs)
				}
				if tt.maxBytes > 0 && int64(len(data)) > tt.maxBytes {
					t.Errorf("file %s has %d bytes, limit %d", id, len(data), tt.maxBytes)
				}
				var line openai.BatchChatCompletionRequest
				if err := json.Unmarshal(bytes.SplitN(data, []byte("\n"), 2)[0], &line); err != nil || line.Body.Model == "" {
					t.Errorf("file %s: first line is not a batch request: %v", id, err)
				}
			}
			if want := tt.n - tt.prefilled; lines != want {
				t.Errorf("batch files hold %d requests, want %d", lines, want)
			}
			// Batch requests cost half: 1000 tokens at $10/M * 0.5.
			wantBatch := float64(tt.n-tt.prefilled) * 0.005
			if got := h.client.SpentUSD() - syncSpent; got < wantBatch-1e-9 || got > wantBatch+1e-9 {
				t.Errorf("batch cost $%v, want $%v", got, wantBatch)
			}

			// The results are in the cache: the stages pay nothing more.
			chats := h.srv.ChatRequests()
			for i, r := range reqs {
				resp, err := h.client.Chat(ctx, r)
				if err != nil || !resp.Cached {
					t.Errorf("request %d after batch: cached=%v err=%v", i, resp.Cached, err)
				}
			}
			if got := h.srv.ChatRequests(); got != chats {
				t.Errorf("%d chat requests after the batch, want 0", got-chats)
			}
			// And running the job again submits nothing.
			if _, err := h.newClient(t, nil).RunBatch(ctx, "job-1", reqs); err != nil {
				t.Fatal(err)
			}
			if got := h.srv.Count("POST /v1/batches"); got != tt.wantFiles {
				t.Errorf("rerun created %d more batches", got-tt.wantFiles)
			}
		})
	}
}

// cancelOnSleep cancels the run the first time it would wait between polls,
// as a killed process would stop.
type cancelOnSleep struct{ cancel context.CancelFunc }

func (c cancelOnSleep) Sleep(ctx context.Context, d time.Duration) error {
	c.cancel()
	return ctx.Err()
}

func TestBatchResumesByBatchID(t *testing.T) {
	h := newHarness(t, echo, func(c *llm.Config) { c.BatchMaxRequests = 2 })
	reqs := batchRequests(3)

	ctx, cancel := context.WithCancel(context.Background())
	first, err := llm.New(baseConfigWithBatch(h.srv.URL), llm.Options{Store: h.store, Sleep: cancelOnSleep{cancel}.Sleep})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := first.RunBatch(ctx, "resume-me", reqs); !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted run: err = %v, want context.Canceled", err)
	}
	ids, err := h.client.BatchIDs(context.Background(), "resume-me")
	if err != nil || len(ids) != 2 {
		t.Fatalf("state after interruption: batch ids %v, %v; want 2", ids, err)
	}
	uploads, batches := h.srv.Count("POST /v1/files"), h.srv.Count("POST /v1/batches")

	res, err := h.newClient(t, func(c *llm.Config) { c.BatchMaxRequests = 2 }).RunBatch(context.Background(), "resume-me", reqs)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range res {
		if r.Err != nil {
			t.Errorf("result %d: %v", i, r.Err)
		}
	}
	if h.srv.Count("POST /v1/files") != uploads || h.srv.Count("POST /v1/batches") != batches {
		t.Errorf("resume uploaded %d files and created %d batches, want none",
			h.srv.Count("POST /v1/files")-uploads, h.srv.Count("POST /v1/batches")-batches)
	}
	for _, id := range ids {
		// The fake finishes on the second poll; the first was the
		// interrupted run's, so the resumed run continued the same batch.
		if got := h.srv.Count("GET /v1/batches/" + id); got != 2 {
			t.Errorf("batch %s polled %d times, want 2", id, got)
		}
	}
	if h.srv.ChatRequests() != 0 {
		t.Errorf("batch mode made %d synchronous requests", h.srv.ChatRequests())
	}
}

func baseConfigWithBatch(url string) llm.Config {
	c := baseConfig(url)
	c.BatchMaxRequests = 2
	return c
}

func TestBatchFailuresCarryReasons(t *testing.T) {
	refuseOdd := func(req openai.ChatCompletionRequest) (string, error) {
		ans, _ := echo(req)
		if strings.HasSuffix(ans, "1") || strings.HasSuffix(ans, "3") {
			return "", errors.New("image could not be decoded")
		}
		return ans, nil
	}
	h := newHarness(t, refuseOdd, nil)
	reqs := batchRequests(5)
	est, err := h.client.EstimateUSD(reqs[0], true)
	if err != nil || est <= 0 {
		t.Fatalf("estimate = %v, %v", est, err)
	}
	// The budget admits while spent+reserved < budget: three of five lines.
	c := h.newClient(t, func(c *llm.Config) { c.BudgetUSD = 2.5 * est })
	res, err := c.RunBatch(context.Background(), "partial", reqs)
	if err != nil {
		t.Fatal(err)
	}
	var ok, rejected, budget int
	for i, r := range res {
		switch {
		case r.Err == nil:
			ok++
		case errors.Is(r.Err, llm.ErrBudget):
			budget++
		case strings.Contains(r.Err.Error(), "image could not be decoded") && strings.Contains(r.Err.Error(), fmt.Sprintf("request %d", i)):
			rejected++
		default:
			t.Errorf("result %d: unexpected error %v", i, r.Err)
		}
	}
	if ok+rejected != 3 || budget != 2 || rejected == 0 {
		t.Errorf("ok=%d rejected=%d over budget=%d; want 3 sent (some rejected with the server's reason) and 2 over budget", ok, rejected, budget)
	}
}

func TestBatchExpiredLinesAreRetriedByARerun(t *testing.T) {
	h := newHarness(t, echo, nil)
	h.srv.ExpireBatches(1)
	ctx := context.Background()
	reqs := batchRequests(3)
	res, err := h.client.RunBatch(ctx, "expiring", reqs)
	if err != nil {
		t.Fatal(err)
	}
	var ok, expired int
	for i, r := range res {
		switch {
		case r.Err == nil:
			ok++
		case strings.Contains(r.Err.Error(), "batch_expired"):
			expired++
		default:
			t.Errorf("result %d: %v", i, r.Err)
		}
	}
	if ok != 1 || expired != 2 {
		t.Fatalf("ok=%d expired=%d, want 1 and 2", ok, expired)
	}

	// The rerun sends only the two expired requests, in a new batch.
	h.srv.ExpireBatches(0)
	res, err = h.newClient(t, nil).RunBatch(ctx, "expiring", reqs)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range res {
		if r.Err != nil {
			t.Errorf("rerun result %d: %v", i, r.Err)
		}
	}
	ids := h.srv.FileIDs()
	second := h.srv.FileContent(ids[len(ids)-1]) // the rerun's output file
	if n := bytes.Count(second, []byte("\n")); h.srv.Count("POST /v1/batches") != 2 || n != 2 {
		t.Errorf("rerun: %d batches in all, last output %d lines; want 2 and 2", h.srv.Count("POST /v1/batches"), n)
	}
}

func TestBatchJobNameIsChecked(t *testing.T) {
	h := newHarness(t, echo, nil)
	for _, name := range []string{"", "../escape", "a/b", strings.Repeat("x", 200)} {
		if _, err := h.client.RunBatch(context.Background(), name, batchRequests(1)); err == nil || !strings.Contains(err.Error(), "job name") {
			t.Errorf("job %q: err = %v, want a job name error", name, err)
		}
	}
}
