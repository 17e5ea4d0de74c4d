package driver

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"
)

// The API server cannot serve pod logs without a kubelet, so FollowLogs'
// reconnect logic is tested against this scripted LogSource.
type fakeLogs struct {
	mu sync.Mutex
	// steps are consumed one per Submitter call.
	steps []logStep
	opens []string // "pod since" for each Open
	i     int
}

type logStep struct {
	pod     string   // "" means ErrNoSubmitter
	lines   []string // "SECONDS text", served as timestamped lines
	broken  bool     // the stream ends with an error instead of EOF
	openErr error
	done    bool // Finished reports true after this step
}

var t0 = time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)

func (f *fakeLogs) cur() logStep {
	if f.i < len(f.steps) {
		return f.steps[f.i]
	}
	return logStep{done: true}
}

func (f *fakeLogs) Submitter(context.Context) (LogTarget, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.cur()
	if s.pod == "" {
		return LogTarget{}, ErrNoSubmitter
	}
	return LogTarget{Pod: s.pod, Container: SubmitterContainer}, nil
}

func (f *fakeLogs) Open(_ context.Context, t LogTarget, follow bool, since time.Time) (io.ReadCloser, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.cur()
	sinceStr := "-"
	if !since.IsZero() {
		sinceStr = since.Format(time.RFC3339Nano)
	}
	f.opens = append(f.opens, fmt.Sprintf("%s %s follow=%v", t.Pod, sinceStr, follow))
	if !follow { // the final catch-up read after the job ended
		return io.NopCloser(strings.NewReader("")), nil
	}
	if s.openErr != nil {
		return nil, s.openErr
	}
	var b strings.Builder
	for _, l := range s.lines {
		var sec int
		var text string
		fmt.Sscanf(l, "%d", &sec)
		_, text, _ = strings.Cut(l, " ")
		ts := t0.Add(time.Duration(sec) * time.Second)
		// Like the API server, SinceTime has a resolution of one second and
		// may return lines already seen.
		if !since.IsZero() && ts.Before(since.Truncate(time.Second)) {
			continue
		}
		fmt.Fprintf(&b, "%s %s\n", ts.Format(time.RFC3339Nano), text)
	}
	var r io.Reader = strings.NewReader(b.String())
	if s.broken {
		r = io.MultiReader(r, errReader{errors.New("unexpected EOF from API server")})
	}
	return io.NopCloser(r), nil
}

func (f *fakeLogs) Finished(context.Context) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	done := f.cur().done
	f.i++
	return done, nil
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

func TestFollowLogs(t *testing.T) {
	for _, c := range []struct {
		name      string
		steps     []logStep
		follow    bool
		want      string
		wantErr   error
		wantOpens []string
		notices   []string
	}{
		{
			name:   "waits for the submitter, then streams to the end",
			follow: true,
			steps: []logStep{
				{},
				{pod: "p1", lines: []string{"1 starting", "2 epoch 1/1"}, done: true},
			},
			want:      "starting\nepoch 1/1\n",
			wantOpens: []string{"p1 - follow=true", "p1 2026-11-24T12:00:02Z follow=false"},
		},
		{
			name:   "reconnects to the same pod without repeating lines",
			follow: true,
			steps: []logStep{
				{pod: "p1", lines: []string{"1 a", "2 b"}, broken: true},
				{pod: "p1", lines: []string{"1 a", "2 b", "3 c"}, done: true},
			},
			want:      "a\nb\nc\n",
			wantOpens: []string{"p1 - follow=true", "p1 2026-11-24T12:00:02Z follow=true", "p1 2026-11-24T12:00:03Z follow=false"},
			notices:   []string{"interrupted"},
		},
		{
			name:   "a retried submitter pod is read from its start",
			follow: true,
			steps: []logStep{
				{pod: "p1", lines: []string{"1 try 1", "2 died"}},
				{pod: "p2", lines: []string{"1 try 2", "5 ok"}, done: true},
			},
			want:      "try 1\ndied\ntry 2\nok\n",
			wantOpens: []string{"p1 - follow=true", "p2 - follow=true", "p2 2026-11-24T12:00:05Z follow=false"},
			notices:   []string{"submitter moved to pod p2"},
		},
		{
			name:   "a log not yet available is retried",
			follow: true,
			steps: []logStep{
				{pod: "p1", openErr: errors.New(`container "ray-job-submitter" is waiting to start: ContainerCreating`)},
				{pod: "p1", lines: []string{"1 hello"}, done: true},
			},
			want:      "hello\n",
			wantOpens: []string{"p1 - follow=true", "p1 - follow=true", "p1 2026-11-24T12:00:01Z follow=false"},
		},
		{
			name:    "without -f, no submitter is an error",
			steps:   []logStep{{}},
			wantErr: ErrNoSubmitter,
		},
		{
			name:   "a job that ended before any submitter ran ends quietly",
			follow: true,
			steps:  []logStep{{done: true}},
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			src := &fakeLogs{steps: c.steps}
			var out, notices bytes.Buffer
			err := FollowLogs(context.Background(), src, &out, FollowOptions{Follow: c.follow, Retry: time.Millisecond, Notices: &notices})
			if !errors.Is(err, c.wantErr) {
				t.Fatalf("err %v, want %v", err, c.wantErr)
			}
			if out.String() != c.want {
				t.Errorf("output %q, want %q", out.String(), c.want)
			}
			if c.wantOpens != nil && strings.Join(src.opens, "\n") != strings.Join(c.wantOpens, "\n") {
				t.Errorf("opens:\n%s\nwant:\n%s", strings.Join(src.opens, "\n"), strings.Join(c.wantOpens, "\n"))
			}
			for _, n := range c.notices {
				if !strings.Contains(notices.String(), n) {
					t.Errorf("notices %q lack %q", notices.String(), n)
				}
			}
		})
	}
}

func TestFollowLogsStopsWithContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	// A submitter that never appears: only the context can end the wait.
	src := &fakeLogs{steps: make([]logStep, 10)}
	errc := make(chan error, 1)
	go func() { errc <- FollowLogs(ctx, src, io.Discard, FollowOptions{Follow: true, Retry: time.Hour}) }()
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v, want context.Canceled", err)
	}
}
