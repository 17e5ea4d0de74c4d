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
