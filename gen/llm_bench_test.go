package gen

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	openai "github.com/sashabaranov/go-openai"

	"github.com/boostgen/boostgen/internal/llm/llmtest"
)

// BenchmarkLLMRunRate measures how close a whole run (workers, per-item
// stages, the client's limiter) keeps to llm.rpm: the request rate reaching
// a server that enforces the same limit, divided by the limit, over the
// span from the first request to the last. Run it once:
//
//	go test ./gen -run '^$' -bench LLMRunRate -benchtime 1x
func BenchmarkLLMRunRate(b *testing.B) {
	const rpm = 1200 // 20 requests a second
	var mu sync.Mutex
	var times []time.Time
	srv := llmtest.New(func(req openai.ChatCompletionRequest) (string, error) {
		mu.Lock()
		times = append(times, time.Now())
		mu.Unlock()
		return llmtest.StageAnswer(req)
	})
	defer srv.Close()
	// The server holds the run to the same limit over one second (OpenAI
	// documents that per-minute limits may be enforced over about that),
	// so scheduling jitter on a loaded machine is not counted as overrun.
	srv.LimitRPM(rpm, rpm/60)
	cfg, err := ParseConfig([]byte(fmt.Sprintf(`
source: {type: synthetic, synthetic: {width: 160, height: 120, sets: [{views: 4, scenes: 25}]}}
llm: {base_url: %q, model: m, rpm: %d, concurrency: 8}
`, srv.URL, rpm)))
	if err != nil {
		b.Fatal(err)
	}
	var ratios []float64
	for i := 0; i < b.N; i++ {
		mu.Lock()
		times = nil
		mu.Unlock()
		out := filepath.Join(b.TempDir(), "out")
		if _, err := Run(context.Background(), cfg, RunOptions{Out: out, Workers: 8}); err != nil {
			b.Fatal(err)
		}
		mu.Lock()
		n, span := len(times), times[len(times)-1].Sub(times[0])
		mu.Unlock()
		ratios = append(ratios, float64(n-1)/span.Seconds()/(rpm/60.0))
	}
	sum := 0.0
	for _, r := range ratios {
		sum += r
	}
	b.ReportMetric(sum/float64(len(ratios)), "rate/limit")
	b.ReportMetric(float64(srv.RateLimited()), "429s")
	b.ReportMetric(float64(srv.ChatRequests())/float64(b.N), "requests/run")
}
