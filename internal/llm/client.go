package llm

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand"
	"net/http"
	"strings"
	"sync"
	"time"

	openai "github.com/sashabaranov/go-openai"
	"golang.org/x/time/rate"

	"github.com/boostgen/boostgen/internal/blob"
)

// Image is one image sent inline as a data URL.
type Image struct {
	// Name identifies the image in errors ("scene0001/frame_0040.jpg").
	Name string
	// MIME is the media type ("image/jpeg"); empty means image/jpeg.
	MIME string
	Data []byte
}

// Message is one chat message: text followed by images.
type Message struct {
	Role   string // "system", "user" or "assistant"
	Text   string
	Images []Image
}

// Schema asks for Structured Outputs: the reply must be JSON matching the
// schema (sent with strict: true).
type Schema struct {
	Name string
	JSON json.RawMessage
}

// Request is one chat completion.
type Request struct {
	// Stage names the pipeline stage for usage and cost accounting.
	Stage    string
	Messages []Message
	Schema   *Schema
	// Detail overrides Config.Detail for this request's images.
	Detail string
}

// Response is the part of a chat completion boostgen uses; it is what the
// cache stores.
type Response struct {
	Content          string `json:"content"`
	Refusal          string `json:"refusal,omitempty"`
	FinishReason     string `json:"finish_reason,omitempty"`
	Model            string `json:"model,omitempty"`
	PromptTokens     int    `json:"prompt_tokens"`
	CompletionTokens int    `json:"completion_tokens"`
	// Cached is true when the response came from the cache and cost nothing.
	Cached bool `json:"-"`
}

// Usage is the tally for one stage.
type Usage struct {
	Requests         int64   `json:"requests"`   // paid requests that succeeded
	CacheHits        int64   `json:"cache_hits"` // answered from the cache
	Retries          int64   `json:"retries"`    // retried attempts
	Failures         int64   `json:"failures"`   // requests that gave up
	PromptTokens     int64   `json:"prompt_tokens"`
	CompletionTokens int64   `json:"completion_tokens"`
	CostUSD          float64 `json:"cost_usd"`
}

// Options are the parts of a Client that are not configuration.
type Options struct {
	// Store holds the response cache and batch state; nil disables both.
	Store blob.Store
	// Logger receives retries and batch progress (default slog.Default()).
	Logger *slog.Logger
	// Sleep waits between retries and batch polls; tests replace it so they
	// never really wait. It must return ctx.Err() if ctx ends first.
	Sleep func(ctx context.Context, d time.Duration) error
	// Transport is the HTTP transport (default http.DefaultTransport).
	Transport http.RoundTripper
	// SpentUSD is what earlier runs of the same job already spent, so that
	// BudgetUSD holds across a stop and a resume (SpentUSD() gives the new
	// total). SetSpentElsewhereUSD updates it while the client runs.
	SpentUSD float64
}

// Client sends chat completions. It is safe for concurrent use.
type Client struct {
	cfg    Config
	key    Secret
	api    *openai.Client
	store  blob.Store
	log    *slog.Logger
	sleep  func(context.Context, time.Duration) error
	rpm    *rate.Limiter
	tpm    *rate.Limiter
	slots  chan struct{}
	randMu sync.Mutex
	rand   *rand.Rand

	flightMu sync.Mutex
	flights  map[string]*flight

	mu        sync.Mutex
	usage     map[string]*Usage
	elsewhere float64 // spent against the budget by others (Options.SpentUSD)
	paid      float64 // spent by this client
	reserved  float64
}

// New checks cfg, loads the key and returns a client.
func New(cfg Config, opts Options) (*Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	key, err := cfg.LoadKey()
	if err != nil {
		return nil, err
	}
	transport := opts.Transport
	if transport == nil {
		transport = http.DefaultTransport
	}
	httpClient := &http.Client{Transport: &recordingTransport{base: transport}}

	var oc openai.ClientConfig
	if cfg.APIType == "azure" {
		oc = openai.DefaultAzureConfig(key.Reveal(), cfg.BaseURL)
		oc.APIVersion = cfg.APIVersion
		oc.AzureModelMapperFunc = func(model string) string { return model }
	} else {
		oc = openai.DefaultConfig(key.Reveal())
		oc.BaseURL = strings.TrimRight(cfg.BaseURL, "/")
	}
	oc.HTTPClient = httpClient

	c := &Client{
		cfg:       cfg,
		key:       key,
		api:       openai.NewClientWithConfig(oc),
		store:     opts.Store,
		log:       opts.Logger,
		sleep:     opts.Sleep,
		slots:     make(chan struct{}, cfg.Concurrency),
		rand:      rand.New(rand.NewSource(cfg.RetrySeed)),
		usage:     map[string]*Usage{},
		elsewhere: opts.SpentUSD,

		flights: map[string]*flight{},
	}
	if c.log == nil {
		c.log = slog.Default()
	}
	if c.sleep == nil {
		c.sleep = sleepCtx
	}
	if cfg.RPM > 0 {
		// A burst of one spreads requests evenly, so the server never sees
		// more than RPM in any window.
		c.rpm = rate.NewLimiter(rate.Limit(float64(cfg.RPM)/60), 1)
	}
	if cfg.TPM > 0 {
		// Providers enforce per-minute limits over shorter windows (OpenAI
		// documents that limits may be quantized to about a second), so the
		// bucket holds one second's worth, not a minute's.
		c.tpm = rate.NewLimiter(rate.Limit(float64(cfg.TPM)/60), max(1, cfg.TPM/60))
	}
	return c, nil
}

// Config returns the effective configuration (defaults filled in).
func (c *Client) Config() Config { return c.cfg }

// String describes the client without its key.
func (c *Client) String() string { return c.cfg.String() }

// GoString keeps %#v from printing the struct, and with it the key.
func (c *Client) GoString() string { return "llm.Client(" + c.cfg.String() + ")" }

// Format makes every fmt verb print the redacted description.
func (c *Client) Format(f fmt.State, verb rune) { fmt.Fprint(f, c.String()) }

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Chat sends one request, or answers it from the cache. Errors wrap
// ErrBudget, ErrQuota or a *StatusError where that applies.
func (c *Client) Chat(ctx context.Context, req Request) (Response, error) {
	body, key, err := c.keyedRequest(req)
	if err != nil {
		return Response{}, err
	}
	if resp, ok, err := c.cacheGet(ctx, key); err != nil {
		return Response{}, err
	} else if ok {
		c.addUsage(req.Stage, func(u *Usage) { u.CacheHits++ })
		return resp, nil
	}

	// Identical requests in flight at once share one answer.
	c.flightMu.Lock()
	if f, ok := c.flights[key]; ok {
		f.waiters++
		c.flightMu.Unlock()
		select {
		case <-f.done:
		case <-ctx.Done():
			return Response{}, ctx.Err()
		}
		if f.err != nil {
			if ctx.Err() == nil && (errors.Is(f.err, context.Canceled) || errors.Is(f.err, context.DeadlineExceeded)) {
				return c.Chat(ctx, req) // the first caller gave up, not us
			}
			return Response{}, f.err
		}
		c.addUsage(req.Stage, func(u *Usage) { u.CacheHits++ })
		resp := f.resp
		resp.Cached = true
		return resp, nil
	}
	f := &flight{done: make(chan struct{})}
	c.flights[key] = f
	c.flightMu.Unlock()
	defer func() {
		c.flightMu.Lock()
		delete(c.flights, key)
		c.flightMu.Unlock()
		close(f.done)
	}()
	// A caller just before us may have finished between our cache miss and
	// our taking the lead.
	if resp, ok, err := c.cacheGet(ctx, key); err == nil && ok {
		c.addUsage(req.Stage, func(u *Usage) { u.CacheHits++ })
		f.resp = resp
		return resp, nil
	}
	f.resp, f.err = c.pay(ctx, req.Stage, key, body)
	return f.resp, f.err
}

type flight struct {
	done    chan struct{}
	waiters int // callers sharing the answer (guarded by flightMu)
	resp    Response
	err     error
}

// pay sends a request that is not in the cache and caches the answer.
func (c *Client) pay(ctx context.Context, stage, key string, body openai.ChatCompletionRequest) (Response, error) {
	est := c.estimateCost(body, 1)
	if err := c.reserve(est); err != nil {
		return Response{}, err
	}
	defer c.release(est)

	resp, err := c.send(ctx, stage, body)
	if err != nil {
		c.addUsage(stage, func(u *Usage) { u.Failures++ })
		return Response{}, c.scrub(fmt.Errorf("llm %s: %w", stageName(stage), err))
	}
	c.charge(stage, resp, 1)
	if err := c.cachePut(ctx, key, resp); err != nil {
		return Response{}, err
	}
	return resp, nil
}

// Cached reports whether req would be answered from the cache.
func (c *Client) Cached(ctx context.Context, req Request) (bool, error) {
	_, key, err := c.keyedRequest(req)
	if err != nil {
		return false, err
	}
	_, ok, err := c.cacheGet(ctx, key)
	return ok, err
}

func stageName(s string) string {
	if s == "" {
		return "request"
	}
	return s
}

// buildRequest turns req into the exact body sent, which is also what the
// cache key is computed from, in both synchronous and batch mode.
func (c *Client) buildRequest(req Request) (openai.ChatCompletionRequest, error) {
	if len(req.Messages) == 0 {
		return openai.ChatCompletionRequest{}, fmt.Errorf("llm %s: request has no messages", stageName(req.Stage))
	}
	detail := c.cfg.Detail
	if req.Detail != "" {
		detail = req.Detail
	}
	body := openai.ChatCompletionRequest{
		Model:       c.cfg.Model,
		Temperature: c.cfg.Temperature,
		Seed:        c.cfg.Seed,
	}
	if c.cfg.MaxTokens > 0 {
		body.MaxTokens = c.cfg.MaxTokens
	}
	for i, m := range req.Messages {
		if m.Role == "" {
			return body, fmt.Errorf("llm %s: message %d has no role", stageName(req.Stage), i)
		}
		msg := openai.ChatCompletionMessage{Role: m.Role}
		if len(m.Images) == 0 {
			msg.Content = m.Text
		} else {
			if m.Text != "" {
				msg.MultiContent = append(msg.MultiContent, openai.ChatMessagePart{Type: openai.ChatMessagePartTypeText, Text: m.Text})
			}
			for j, im := range m.Images {
				if len(im.Data) == 0 {
					return body, fmt.Errorf("llm %s: message %d image %d (%s) is empty", stageName(req.Stage), i, j, im.Name)
				}
				mime := im.MIME
				if mime == "" {
					mime = "image/jpeg"
				}
				msg.MultiContent = append(msg.MultiContent, openai.ChatMessagePart{
					Type: openai.ChatMessagePartTypeImageURL,
					ImageURL: &openai.ChatMessageImageURL{
						URL:    "data:" + mime + ";base64," + base64.StdEncoding.EncodeToString(im.Data),
						Detail: openai.ImageURLDetail(detail),
					},
				})
			}
		}
		body.Messages = append(body.Messages, msg)
	}
	if req.Schema != nil {
		if !json.Valid(req.Schema.JSON) {
			return body, fmt.Errorf("llm %s: response schema %q is not valid JSON", stageName(req.Stage), req.Schema.Name)
		}
		body.ResponseFormat = &openai.ChatCompletionResponseFormat{
			Type: openai.ChatCompletionResponseFormatTypeJSONSchema,
			JSONSchema: &openai.ChatCompletionResponseFormatJSONSchema{
				Name:   req.Schema.Name,
				Schema: req.Schema.JSON,
				Strict: true,
			},
		}
	}
	return body, nil
}

// send makes the attempts for one chat request: limits, timeout, retries.
func (c *Client) send(ctx context.Context, stage string, body openai.ChatCompletionRequest) (Response, error) {
	var resp Response
	err := c.do(ctx, stage, estimateTokens(body), func(ctx context.Context) error {
		out, err := c.api.CreateChatCompletion(ctx, body)
		if err != nil {
			return err
		}
		resp, err = responseFrom(out)
		return err
	})
	return resp, err
}

// do runs fn until it succeeds, fails for good or runs out of retries. Each
// attempt waits for the limiters (when tokens > 0), takes a concurrency slot,
// and runs under the per-attempt timeout; between attempts it waits for
// Retry-After or an exponential backoff with jitter.
func (c *Client) do(ctx context.Context, stage string, tokens int, fn func(ctx context.Context) error) error {
	for attempt := 0; ; attempt++ {
		if tokens > 0 {
			if err := c.waitLimits(ctx, tokens); err != nil {
				return err
			}
		}
		meta, err := c.attempt(ctx, fn)
		if err == nil {
			return nil
		}
		failure := classify(ctx, err, meta)
		if !failure.retry || attempt >= c.cfg.MaxRetries {
			if failure.retry {
				return fmt.Errorf("gave up after %d attempts: %w", attempt+1, failure.err)
			}
			return failure.err
		}
		wait := retryAfter(meta.header, time.Now())
		if wait <= 0 {
			wait = c.backoff(attempt)
		}
		c.addUsage(stage, func(u *Usage) { u.Retries++ })
		c.log.Warn("llm: retrying", "stage", stageName(stage), "attempt", attempt+1,
			"wait", wait, "reason", c.key.Redact(failure.err.Error()))
		if err := c.sleep(ctx, wait); err != nil {
			return err
		}
	}
}

func (c *Client) waitLimits(ctx context.Context, tokens int) error {
	if c.rpm != nil {
		if err := c.rpm.Wait(ctx); err != nil {
			return err
		}
	}
	if c.tpm != nil {
		// The bucket holds one second of tokens; a bigger request takes
		// its tokens over several seconds' worth of refills.
		for tokens > 0 {
			n := min(tokens, c.tpm.Burst())
			if err := c.tpm.WaitN(ctx, n); err != nil {
				return err
			}
			tokens -= n
		}
	}
	return nil
}

func (c *Client) attempt(ctx context.Context, fn func(ctx context.Context) error) (*respMeta, error) {
	meta := &respMeta{}
	select {
	case c.slots <- struct{}{}:
	case <-ctx.Done():
		return meta, ctx.Err()
	}
	defer func() { <-c.slots }()
	actx, cancel := context.WithTimeout(context.WithValue(ctx, metaKey{}, meta), c.cfg.Timeout.D())
	defer cancel()
	return meta, fn(actx)
}

// errMalformed marks a 2xx reply that is not a usable chat completion.
var errMalformed = errors.New("malformed response")

func responseFrom(out openai.ChatCompletionResponse) (Response, error) {
	if len(out.Choices) == 0 {
		return Response{}, fmt.Errorf("%w: no choices", errMalformed)
	}
	ch := out.Choices[0]
	return Response{
		Content:          ch.Message.Content,
		Refusal:          ch.Message.Refusal,
		FinishReason:     string(ch.FinishReason),
		Model:            out.Model,
		PromptTokens:     out.Usage.PromptTokens,
		CompletionTokens: out.Usage.CompletionTokens,
	}, nil
}

func (c *Client) backoff(attempt int) time.Duration {
	d := c.cfg.BackoffBase.D() << min(attempt, 30)
	if d <= 0 || d > c.cfg.BackoffMax.D() {
		d = c.cfg.BackoffMax.D()
	}
	c.randMu.Lock()
	defer c.randMu.Unlock()
	// Full jitter, but never less than half: keeps a herd apart without
	// retrying at once.
	return d/2 + time.Duration(c.rand.Int63n(int64(d/2)+1))
}

// scrub removes the key from an error's message, keeping the chain for
// errors.Is and errors.As.
func (c *Client) scrub(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	if clean := c.key.Redact(msg); clean != msg {
		return &scrubbed{msg: clean, err: err}
	}
	return err
}

type scrubbed struct {
	msg string
	err error
}

func (s *scrubbed) Error() string { return s.msg }
func (s *scrubbed) Unwrap() error { return s.err }

// estimateTokens guesses a request's size for the TPM limiter and the
// budget: about 4 characters per token, the API's published image costs,
// plus the completion allowance.
func estimateTokens(body openai.ChatCompletionRequest) int {
	n := 0
	for _, m := range body.Messages {
		n += 4 + len(m.Content)/4
		for _, p := range m.MultiContent {
			switch p.Type {
			case openai.ChatMessagePartTypeText:
				n += len(p.Text) / 4
			case openai.ChatMessagePartTypeImageURL:
				if p.ImageURL.Detail == openai.ImageURLDetailLow {
					n += 85
				} else {
					n += 765 // 85 + 170 per 512px tile, four tiles for a typical frame
				}
			}
		}
	}
	if body.ResponseFormat != nil && body.ResponseFormat.JSONSchema != nil {
		if raw, ok := body.ResponseFormat.JSONSchema.Schema.(json.RawMessage); ok {
			n += len(raw) / 4
		}
	}
	return n + body.MaxTokens
}
