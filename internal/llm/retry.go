package llm

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	openai "github.com/sashabaranov/go-openai"
)

// ErrQuota means the account has no credit left ("insufficient_quota"):
// retrying cannot help, so the run should stop.
var ErrQuota = errors.New("llm: insufficient quota")

// StatusError is an HTTP error reply from the API.
type StatusError struct {
	Status  int
	Code    string // "rate_limit_exceeded", "insufficient_quota", ...
	Message string
}

func (e *StatusError) Error() string {
	s := fmt.Sprintf("HTTP %d", e.Status)
	if e.Code != "" {
		s += " " + e.Code
	}
	if e.Message != "" {
		s += ": " + e.Message
	}
	return s
}

func (e *StatusError) Is(target error) bool {
	return target == ErrQuota && e.Code == "insufficient_quota"
}

// respMeta is where recordingTransport leaves the status and headers of the
// last reply of an attempt: go-openai drops them on its error paths, and
// Retry-After lives there.
type respMeta struct {
	status int
	header http.Header
}

type metaKey struct{}

type recordingTransport struct{ base http.RoundTripper }

func (t *recordingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(req)
	if m, ok := req.Context().Value(metaKey{}).(*respMeta); ok && resp != nil {
		m.status = resp.StatusCode
		m.header = resp.Header.Clone()
	}
	return resp, err
}

type failure struct {
	err   error
	retry bool
}

// classify decides whether an attempt's error is worth another attempt:
// rate limits (except an exhausted quota), timeouts, 408, 5xx, broken
// connections and malformed 2xx bodies are; other 4xx and a cancelled
// caller are not.
func classify(ctx context.Context, err error, meta *respMeta) failure {
	if ctx.Err() != nil {
		return failure{err: ctx.Err()}
	}
	var apiErr *openai.APIError
	var reqErr *openai.RequestError
	var se *StatusError
	switch {
	case errors.As(err, &apiErr):
		// go-openai decodes "code": null as the number 0.
		var code string
		switch v := apiErr.Code.(type) {
		case string:
			code = v
		case int:
			if v != 0 {
				code = strconv.Itoa(v)
			}
		}
		if code == "" {
			code = apiErr.Type
		}
		se = &StatusError{Status: apiErr.HTTPStatusCode, Code: code, Message: apiErr.Message}
	case errors.As(err, &reqErr):
		msg := strings.TrimSpace(string(reqErr.Body))
		if len(msg) > 200 {
			msg = msg[:200] + "..."
		}
		se = &StatusError{Status: reqErr.HTTPStatusCode, Message: msg}
	}
	if se != nil {
		switch {
		case se.Code == "insufficient_quota" || apiErr != nil && apiErr.Type == "insufficient_quota":
			se.Code = "insufficient_quota"
			return failure{err: se}
		case se.Status == http.StatusTooManyRequests, se.Status == http.StatusRequestTimeout, se.Status >= 500:
			return failure{err: se, retry: true}
		default:
			return failure{err: se}
		}
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return failure{err: errors.New("attempt timed out"), retry: true}
	}
	if meta != nil && meta.status >= 200 && meta.status < 300 {
		// The server answered but the body is not a chat completion.
		if errors.Is(err, errMalformed) {
			return failure{err: err, retry: true}
		}
		return failure{err: fmt.Errorf("%w: body is not valid JSON: %v", errMalformed, err), retry: true}
	}
	// Connection refused or reset, EOF mid-body: transport trouble.
	return failure{err: err, retry: true}
}

// retryAfter reads the server's requested wait: OpenAI's retry-after-ms,
// then the standard Retry-After in seconds or as an HTTP date.
func retryAfter(h http.Header, now time.Time) time.Duration {
	if h == nil {
		return 0
	}
	if v := h.Get("Retry-After-Ms"); v != "" {
		if ms, err := strconv.ParseFloat(v, 64); err == nil && ms > 0 {
			return time.Duration(ms * float64(time.Millisecond))
		}
	}
	v := h.Get("Retry-After")
	if v == "" {
		return 0
	}
	if s, err := strconv.ParseFloat(v, 64); err == nil {
		if s <= 0 {
			return 0
		}
		return time.Duration(s * float64(time.Second))
	}
	if t, err := http.ParseTime(v); err == nil {
		return t.Sub(now)
	}
	return 0
}
