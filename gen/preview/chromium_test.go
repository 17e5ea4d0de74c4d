package preview

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/boostgen/boostgen/internal/testenv"
)

// chromium drives a real headless Chromium over the DevTools protocol on a
// pipe (--remote-debugging-pipe: commands on the browser's fd 3, replies and
// events on its fd 4, each message ending in a NUL byte), which needs no
// WebSocket client and no library.
type chromium struct {
	cmd     *exec.Cmd
	w       io.WriteCloser
	mu      sync.Mutex
	nextID  int
	pending map[int]chan cdpMessage
	// onEvent sees every event, on the reading goroutine, before any reply
	// read after it is delivered: a reply therefore proves that the events
	// the browser sent before it have been seen.
	onEvent func(cdpMessage)
	done    chan struct{}
	stderr  bytes.Buffer
}

type cdpMessage struct {
	ID        int                       `json:"id,omitempty"`
	Method    string                    `json:"method,omitempty"`
	Params    json.RawMessage           `json:"params,omitempty"`
	Result    json.RawMessage           `json:"result,omitempty"`
	Error     *struct{ Message string } `json:"error,omitempty"`
	SessionID string                    `json:"sessionId,omitempty"`
}

// chromiumPath finds the browser the setup script installed.
func chromiumPath(t *testing.T) string {
	t.Helper()
	return testenv.Lookup(t, "BOOSTGEN_CHROMIUM", "chromium.sh")
}

func startChromium(t *testing.T, exe string) *chromium {
	t.Helper()
	toBrowserR, toBrowserW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	fromBrowserR, fromBrowserW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	c := &chromium{w: toBrowserW, pending: map[int]chan cdpMessage{}, done: make(chan struct{})}
	c.cmd = exec.Command(exe,
		"--headless", "--no-sandbox", "--disable-gpu",
		"--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run",
		"--disable-dev-shm-usage", "--hide-scrollbars", "--mute-audio",
		"--user-data-dir="+t.TempDir(),
		"--remote-debugging-pipe", "about:blank")
	c.cmd.ExtraFiles = []*os.File{toBrowserR, fromBrowserW} // fd 3, fd 4
	c.cmd.Stderr = &c.stderr
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	toBrowserR.Close()
	fromBrowserW.Close()
	go c.read(fromBrowserR)
	t.Cleanup(func() {
		c.w.Close()
		exited := make(chan error, 1)
		go func() { exited <- c.cmd.Wait() }()
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			c.cmd.Process.Kill()
			<-exited
		}
	})
	return c
}

func (c *chromium) read(r io.Reader) {
	defer close(c.done)
	br := bufio.NewReaderSize(r, 1<<20)
	for {
		raw, err := br.ReadBytes(0)
		if err != nil {
			return
		}
		var m cdpMessage
		if json.Unmarshal(raw[:len(raw)-1], &m) != nil {
			continue
		}
		if m.ID != 0 {
			c.mu.Lock()
			ch := c.pending[m.ID]
			delete(c.pending, m.ID)
			c.mu.Unlock()
			if ch != nil {
				ch <- m
			}
			continue
		}
		c.mu.Lock()
		on := c.onEvent
		c.mu.Unlock()
		if on != nil {
			on(m)
		}
	}
}

// call sends a command (to the browser, or to a page when session is set)
// and waits for its reply.
func (c *chromium) call(ctx context.Context, session, method string, params any, result any) error {
	c.mu.Lock()
	c.nextID++
	id := c.nextID
	ch := make(chan cdpMessage, 1)
	c.pending[id] = ch
	c.mu.Unlock()
	if params == nil {
		params = struct{}{}
	}
	msg, err := json.Marshal(map[string]any{"id": id, "method": method, "params": params, "sessionId": session})
	if err != nil {
		return err
	}
	if session == "" {
		msg, _ = json.Marshal(map[string]any{"id": id, "method": method, "params": params})
	}
	if _, err := c.w.Write(append(msg, 0)); err != nil {
		return fmt.Errorf("%s: %w (browser stderr: %s)", method, err, c.stderr.String())
	}
	select {
	case m := <-ch:
		if m.Error != nil {
			return fmt.Errorf("%s: %s", method, m.Error.Message)
		}
		if result != nil {
			return json.Unmarshal(m.Result, result)
		}
		return nil
	case <-c.done:
		return fmt.Errorf("%s: the browser closed the pipe (stderr: %s)", method, c.stderr.String())
	case <-ctx.Done():
		return fmt.Errorf("%s: %w", method, ctx.Err())
	}
}

// pageProblems collects what a page reports as going wrong.
type pageProblems struct {
	mu   sync.Mutex
	list []string
}

func (p *pageProblems) add(s string) { p.mu.Lock(); p.list = append(p.list, s); p.mu.Unlock() }

// note records console errors, uncaught exceptions and failed loads.
func (p *pageProblems) note(m cdpMessage) {
	switch m.Method {
	case "Runtime.consoleAPICalled":
		var ev struct {
			Type string
			Args []struct {
				Value       any
				Description string
			}
		}
		json.Unmarshal(m.Params, &ev)
		if ev.Type == "error" || ev.Type == "assert" || ev.Type == "warning" {
			var parts []string
			for _, a := range ev.Args {
				parts = append(parts, fmt.Sprint(a.Value, a.Description))
			}
			p.add(fmt.Sprintf("console.%s: %v", ev.Type, parts))
		}
	case "Runtime.exceptionThrown":
		var ev struct {
			ExceptionDetails struct {
				Text      string
				Exception struct{ Description string }
			}
		}
		json.Unmarshal(m.Params, &ev)
		p.add("exception: " + ev.ExceptionDetails.Text + " " + ev.ExceptionDetails.Exception.Description)
	case "Log.entryAdded":
		var ev struct {
			Entry struct{ Source, Level, Text, URL string }
		}
		json.Unmarshal(m.Params, &ev)
		if ev.Entry.Level == "error" {
			p.add(fmt.Sprintf("log %s error: %s %s", ev.Entry.Source, ev.Entry.Text, ev.Entry.URL))
		}
	case "Network.loadingFailed":
		var ev struct{ ErrorText string }
		json.Unmarshal(m.Params, &ev)
		p.add("load failed: " + ev.ErrorText)
	}
}

// openPage navigates a new page to url at the given viewport size and waits
// for its load event, noting problems on the way and after.
func (c *chromium) openPage(ctx context.Context, url string, width, height int, probs *pageProblems) (string, error) {
	var target struct{ TargetID string }
	if err := c.call(ctx, "", "Target.createTarget", map[string]any{"url": "about:blank"}, &target); err != nil {
		return "", err
	}
	var att struct{ SessionID string }
	if err := c.call(ctx, "", "Target.attachToTarget", map[string]any{"targetId": target.TargetID, "flatten": true}, &att); err != nil {
		return "", err
	}
	s := att.SessionID
	for _, m := range []string{"Runtime.enable", "Log.enable", "Page.enable", "Network.enable"} {
		if err := c.call(ctx, s, m, nil, nil); err != nil {
			return "", err
		}
	}
	if err := c.call(ctx, s, "Emulation.setDeviceMetricsOverride", map[string]any{"width": width, "height": height, "deviceScaleFactor": 1, "mobile": false}, nil); err != nil {
		return "", err
	}
	loaded := make(chan struct{})
	var once sync.Once
	c.mu.Lock()
	c.onEvent = func(m cdpMessage) {
		if m.SessionID != s {
			return
		}
		probs.note(m)
		if m.Method == "Page.loadEventFired" {
			once.Do(func() { close(loaded) })
		}
	}
	c.mu.Unlock()
	var nav struct{ ErrorText string }
	if err := c.call(ctx, s, "Page.navigate", map[string]any{"url": url}, &nav); err != nil {
		return "", err
	}
	if nav.ErrorText != "" {
		return "", fmt.Errorf("navigate %s: %s", url, nav.ErrorText)
	}
	select {
	case <-loaded:
		return s, nil
	case <-ctx.Done():
		return "", fmt.Errorf("waiting for %s to load: %w", url, ctx.Err())
	}
}

// eval runs a JavaScript expression in the page and decodes its value.
func (c *chromium) eval(ctx context.Context, session, expr string, out any) error {
	var res struct {
		Result           struct{ Value json.RawMessage }
		ExceptionDetails *struct{ Text string }
	}
	if err := c.call(ctx, session, "Runtime.evaluate", map[string]any{"expression": expr, "returnByValue": true, "awaitPromise": true}, &res); err != nil {
		return err
	}
	if res.ExceptionDetails != nil {
		return fmt.Errorf("evaluate %q: %s", expr, res.ExceptionDetails.Text)
	}
	return json.Unmarshal(res.Result.Value, out)
}

func (c *chromium) screenshot(ctx context.Context, session string) ([]byte, error) {
	var shot struct{ Data string }
	if err := c.call(ctx, session, "Page.captureScreenshot", map[string]any{"format": "png"}, &shot); err != nil {
		return nil, err
	}
	return base64.StdEncoding.DecodeString(shot.Data)
}
