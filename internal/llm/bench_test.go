package llm_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	openai "github.com/sashabaranov/go-openai"

	"github.com/boostgen/boostgen/internal/llm"
	"github.com/boostgen/boostgen/internal/llm/llmtest"
)

// drive sends requests distinct requests through c from 32 workers.
func drive(b *testing.B, c *llm.Client, requests int) {
	var wg sync.WaitGroup
	work := make(chan int)
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				if _, err := c.Chat(context.Background(), textRequest("bench", fmt.Sprint(i))); err != nil {
					b.Error(err)
				}
			}
		}()
	}
	for i := range requests {
		work <- i
	}
	close(work)
	wg.Wait()
}

// BenchmarkRPMUtilisation measures how close the client comes to its RPM
// limit without passing it: the rate at which requests reach the llmtest
// server, divided by the configured limit. The goal is at least 0.95, and
// never above 1.
//
//	go test ./internal/llm -run '^$' -bench RPMUtilisation -benchtime 1x
func BenchmarkRPMUtilisation(b *testing.B) {
	const (
		rpm      = 6000 // 100 requests a second
		requests = 400  // about 4 s
	)
	b.Setenv(keyEnv, key)
	var mu sync.Mutex
	var arrivals []time.Time
	srv := llmtest.New(func(openai.ChatCompletionRequest) (string, error) {
		mu.Lock()
		arrivals = append(arrivals, time.Now())
		mu.Unlock()
		return "ok", nil
	})
	defer srv.Close()
	// The server holds the client to the same limit, with a burst of 0.1 s
	// for scheduling jitter: a 429 here means the client overran.
	srv.LimitRPM(rpm, 10)

	for b.Loop() {
		mu.Lock()
		arrivals = arrivals[:0]
		mu.Unlock()
		cfg := baseConfig(srv.URL)
		cfg.RPM, cfg.Concurrency = rpm, 32
		c, err := llm.New(cfg, llm.Options{}) // no store: every request is sent
		if err != nil {
			b.Fatal(err)
		}
		drive(b, c, requests)
	}
	mu.Lock()
	defer mu.Unlock()
	span := arrivals[len(arrivals)-1].Sub(arrivals[0]).Seconds()
	achieved := float64(len(arrivals)-1) / span
	ratio := achieved / (rpm / 60.0)
	b.ReportMetric(ratio, "achieved/limit")
	b.ReportMetric(achieved, "req/s")
	b.ReportMetric(float64(srv.RateLimited()), "429s")
	b.Logf("achieved %.1f req/s against a limit of %.1f: ratio %.3f; server 429s: %d", achieved, rpm/60.0, ratio, srv.RateLimited())
}

// BenchmarkTPMUtilisation is the same for the token limit: estimated tokens
// sent per second, in the steady state, over the TPM limit per second.
//
//	go test ./internal/llm -run '^$' -bench TPMUtilisation -benchtime 1x
func BenchmarkTPMUtilisation(b *testing.B) {
	const (
		tpm      = 600_000 // 10,000 tokens a second
		requests = 400
	)
	b.Setenv(keyEnv, key)
	var mu sync.Mutex
	var arrivals []time.Time
	srv := llmtest.New(func(openai.ChatCompletionRequest) (string, error) {
		mu.Lock()
		arrivals = append(arrivals, time.Now())
		mu.Unlock()
		return "ok", nil
	})
	defer srv.Close()

	var perRequest float64
	for b.Loop() {
		mu.Lock()
		arrivals = arrivals[:0]
		mu.Unlock()
		cfg := baseConfig(srv.URL)
		cfg.TPM, cfg.Concurrency = tpm, 32
		cfg.PriceInputPer1M = 1e6 // so EstimateUSD reads as tokens
		c, err := llm.New(cfg, llm.Options{})
		if err != nil {
			b.Fatal(err)
		}
		if perRequest, err = c.EstimateUSD(textRequest("bench", "100"), false); err != nil {
			b.Fatal(err)
		}
		drive(b, c, requests)
	}
	mu.Lock()
	defer mu.Unlock()
	// The bucket starts full with one second of tokens, which the first
	// second may use at once; the steady rate is what the limit is about,
	// so it is measured over the second half of the run.
	half := arrivals[len(arrivals)/2:]
	span := half[len(half)-1].Sub(half[0]).Seconds()
	achieved := float64(len(half)-1) * perRequest / span
	ratio := achieved / (tpm / 60.0)
	b.ReportMetric(ratio, "achieved/limit")
	b.ReportMetric(achieved, "tokens/s")
	b.Logf("%.0f estimated tokens per request; achieved %.0f tokens/s against a limit of %.0f: ratio %.3f",
		perRequest, achieved, tpm/60.0, ratio)
}
