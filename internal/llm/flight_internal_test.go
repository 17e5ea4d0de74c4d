package llm

import (
	"context"
	"sync"
	"testing"
	"time"

	openai "github.com/sashabaranov/go-openai"

	"github.com/boostgen/boostgen/internal/llm/llmtest"
)

func TestIdenticalConcurrentRequestsPayOnce(t *testing.T) {
	release := make(chan struct{})
	srv := llmtest.New(func(openai.ChatCompletionRequest) (string, error) {
		<-release // hold the answer until every caller is waiting for it
		return "shared", nil
	})
	defer srv.Close()
	// No store: without sharing, every caller would reach the server.
	c, err := New(Config{BaseURL: srv.URL, Model: "m"}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	req := Request{Stage: "vqa", Messages: []Message{{Role: "user", Text: "same"}}}
	const n = 8
	var wg sync.WaitGroup
	results := make([]Response, n)
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], errs[i] = c.Chat(context.Background(), req)
		}()
	}
	// Wait, with a deadline, until n-1 callers wait on the first one.
	deadline := time.Now().Add(10 * time.Second)
	for {
		c.flightMu.Lock()
		waiting := 0
		for _, f := range c.flights {
			waiting += f.waiters
		}
		c.flightMu.Unlock()
		if waiting == n-1 {
			break
		}
		if time.Now().After(deadline) {
			close(release)
			t.Fatalf("only %d of %d callers joined the request in flight", waiting, n-1)
		}
		time.Sleep(time.Millisecond) // polling a condition, not synchronising by time
	}
	close(release)
	wg.Wait()
	shared := 0
	for i := range n {
		if errs[i] != nil || results[i].Content != "shared" {
			t.Errorf("caller %d: %q, %v", i, results[i].Content, errs[i])
		}
		if results[i].Cached {
			shared++
		}
	}
	if got := srv.ChatRequests(); got != 1 || shared != n-1 {
		t.Errorf("server saw %d requests and %d callers got a shared answer; want 1 and %d", got, shared, n-1)
	}
	if u := c.Usage()["vqa"]; u.Requests != 1 || u.CacheHits != n-1 {
		t.Errorf("usage %+v, want 1 paid and %d shared", u, n-1)
	}
}
