// Package llm is boostgen's client for OpenAI-compatible chat endpoints
// (OpenAI, Azure OpenAI, vLLM, Ollama): rate and token limits, a bounded
// number of requests in flight, retries that honour Retry-After, a
// content-addressed response cache on a blob.Store so no request is ever paid
// for twice, cost accounting with a hard budget, and the half-price Batch API.
package llm

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"
)

// Config selects an endpoint and model and sets the operating limits. It is
// safe to log, print and store in manifests: it names where the API key comes
// from, never the key itself.
type Config struct {
	// BaseURL is the API root including the version, for example
	// "https://api.openai.com/v1", "http://127.0.0.1:8000/v1" (vLLM) or
	// "http://127.0.0.1:11434/v1" (Ollama). For Azure it is the resource
	// endpoint, "https://NAME.openai.azure.com".
	BaseURL string `json:"base_url"`
	// Model is the model name (for Azure, the deployment name).
	Model string `json:"model"`
	// APIType is "openai" (the default, also right for vLLM and Ollama) or
	// "azure".
	APIType string `json:"api_type,omitempty"`
	// APIVersion is required by Azure ("2024-10-21").
	APIVersion string `json:"api_version,omitempty"`

	// APIKeyEnv names an environment variable holding the key; APIKeyFile
	// names a file holding it (surrounding white space is ignored). At most
	// one may be set; with neither, requests carry no key (local servers).
	APIKeyEnv  string `json:"api_key_env,omitempty"`
	APIKeyFile string `json:"api_key_file,omitempty"`

	// RPM and TPM are the requests and tokens per minute the client keeps
	// under; 0 means no limit. Concurrency bounds requests in flight (default 8).
	RPM         int `json:"rpm,omitempty"`
	TPM         int `json:"tpm,omitempty"`
	Concurrency int `json:"concurrency,omitempty"`

	// Timeout bounds one HTTP attempt (default 120s). MaxRetries is the
	// number of retries after the first attempt (default 6; -1 for none).
	// Backoff doubles from BackoffBase up to BackoffMax with full jitter drawn
	// from a generator seeded with RetrySeed, so a run's waits are repeatable.
	Timeout     Duration `json:"timeout,omitempty"`
	MaxRetries  int      `json:"max_retries,omitempty"`
	BackoffBase Duration `json:"backoff_base,omitempty"`
	BackoffMax  Duration `json:"backoff_max,omitempty"`
	RetrySeed   int64    `json:"retry_seed,omitempty"`

	// Detail is the image detail level sent with every image: "low", "high"
	// or "auto" (default "auto").
	Detail string `json:"detail,omitempty"`
	// Temperature and MaxTokens go into every request (0: server default).
	Temperature float32 `json:"temperature,omitempty"`
	MaxTokens   int     `json:"max_tokens,omitempty"`
	// Seed, when set, is sent as the request seed.
	Seed *int `json:"seed,omitempty"`

	// Prices in USD per million tokens, used to estimate cost. BatchDiscount
	// multiplies them for Batch API requests (default 0.5). BudgetUSD, when
	// positive, stops new requests once the estimated spend reaches it.
	PriceInputPer1M  float64 `json:"price_input_per_1m,omitempty"`
	PriceOutputPer1M float64 `json:"price_output_per_1m,omitempty"`
	BatchDiscount    float64 `json:"batch_discount,omitempty"`
	BudgetUSD        float64 `json:"budget_usd,omitempty"`

	// Batch API limits: requests and bytes per input file (defaults 50,000
	// and 200 MB, the API's own limits), the poll interval (default 30s) and
	// the completion window (default "24h").
	BatchMaxRequests  int      `json:"batch_max_requests,omitempty"`
	BatchMaxBytes     int64    `json:"batch_max_bytes,omitempty"`
	BatchPollInterval Duration `json:"batch_poll_interval,omitempty"`
	BatchWindow       string   `json:"batch_window,omitempty"`
}

// Limits the Batch API enforces on one input file.
const (
	MaxBatchRequests = 50_000
	MaxBatchBytes    = 200 << 20
)

func (c Config) withDefaults() Config {
	if c.APIType == "" {
		c.APIType = "openai"
	}
	if c.Concurrency <= 0 {
		c.Concurrency = 8
	}
	if c.Timeout <= 0 {
		c.Timeout = Duration(120 * time.Second)
	}
	if c.MaxRetries == 0 {
		c.MaxRetries = 6
	}
	if c.MaxRetries < 0 {
		c.MaxRetries = 0
	}
	if c.BackoffBase <= 0 {
		c.BackoffBase = Duration(time.Second)
	}
	if c.BackoffMax <= 0 {
		c.BackoffMax = Duration(time.Minute)
	}
	if c.Detail == "" {
		c.Detail = "auto"
	}
	if c.BatchDiscount <= 0 {
		c.BatchDiscount = 0.5
	}
	if c.BatchMaxRequests <= 0 || c.BatchMaxRequests > MaxBatchRequests {
		c.BatchMaxRequests = MaxBatchRequests
	}
	if c.BatchMaxBytes <= 0 || c.BatchMaxBytes > MaxBatchBytes {
		c.BatchMaxBytes = MaxBatchBytes
	}
	if c.BatchPollInterval <= 0 {
		c.BatchPollInterval = Duration(30 * time.Second)
	}
	if c.BatchWindow == "" {
		c.BatchWindow = "24h"
	}
	return c
}

// Validate reports the first invalid field by its JSON name.
func (c Config) Validate() error {
	switch {
	case c.BaseURL == "":
		return errors.New("llm config: base_url is empty")
	case !strings.HasPrefix(c.BaseURL, "http://") && !strings.HasPrefix(c.BaseURL, "https://"):
		return fmt.Errorf("llm config: base_url %q must start with http:// or https://", c.BaseURL)
	case c.Model == "":
		return errors.New("llm config: model is empty")
	case c.APIType != "" && c.APIType != "openai" && c.APIType != "azure":
		return fmt.Errorf("llm config: api_type %q is not one of openai, azure", c.APIType)
	case c.APIType == "azure" && c.APIVersion == "":
		return errors.New("llm config: api_version is required for api_type azure")
	case c.APIKeyEnv != "" && c.APIKeyFile != "":
		return errors.New("llm config: set api_key_env or api_key_file, not both")
	case c.RPM < 0 || c.TPM < 0 || c.Concurrency < 0:
		return errors.New("llm config: rpm, tpm and concurrency must not be negative")
	case c.Detail != "" && c.Detail != "low" && c.Detail != "high" && c.Detail != "auto":
		return fmt.Errorf("llm config: detail %q is not one of low, high, auto", c.Detail)
	case c.PriceInputPer1M < 0 || c.PriceOutputPer1M < 0 || c.BudgetUSD < 0:
		return errors.New("llm config: prices and budget_usd must not be negative")
	case c.BatchMaxRequests > MaxBatchRequests:
		return fmt.Errorf("llm config: batch_max_requests %d is above the API limit %d", c.BatchMaxRequests, MaxBatchRequests)
	case c.BatchMaxBytes > MaxBatchBytes:
		return fmt.Errorf("llm config: batch_max_bytes %d is above the API limit %d", c.BatchMaxBytes, MaxBatchBytes)
	}
	return nil
}

// String describes the config for logs: the key appears only as its source.
func (c Config) String() string {
	src := "none"
	switch {
	case c.APIKeyEnv != "":
		src = "env " + c.APIKeyEnv
	case c.APIKeyFile != "":
		src = "file " + c.APIKeyFile
	}
	return fmt.Sprintf("llm %s model=%s key=%s rpm=%d tpm=%d concurrency=%d", c.BaseURL, c.Model, src, c.RPM, c.TPM, c.Concurrency)
}

// LoadKey reads the API key from the configured source. The error names the
// variable or file, never any part of its content.
func (c Config) LoadKey() (Secret, error) {
	switch {
	case c.APIKeyEnv != "":
		v, ok := os.LookupEnv(c.APIKeyEnv)
		if !ok || strings.TrimSpace(v) == "" {
			return Secret{}, fmt.Errorf("llm config: api_key_env: environment variable %s is not set or empty", c.APIKeyEnv)
		}
		return Secret{v: strings.TrimSpace(v)}, nil
	case c.APIKeyFile != "":
		b, err := os.ReadFile(c.APIKeyFile)
		if err != nil {
			// The path is the user's own; the os error says what went wrong.
			return Secret{}, fmt.Errorf("llm config: api_key_file: %w", err)
		}
		v := strings.TrimSpace(string(b))
		if v == "" {
			return Secret{}, fmt.Errorf("llm config: api_key_file %s is empty", c.APIKeyFile)
		}
		return Secret{v: v}, nil
	}
	return Secret{}, nil
}

// Secret holds an API key. Every way of printing, logging or encoding it
// yields "[redacted]"; only Reveal gives the value, for the Authorization header.
type Secret struct{ v string }

const redacted = "[redacted]"

func (s Secret) String() string                { return redacted }
func (s Secret) GoString() string              { return redacted }
func (s Secret) LogValue() slog.Value          { return slog.StringValue(redacted) }
func (s Secret) MarshalJSON() ([]byte, error)  { return json.Marshal(redacted) }
func (s Secret) MarshalText() ([]byte, error)  { return []byte(redacted), nil }
func (s Secret) Format(f fmt.State, verb rune) { fmt.Fprint(f, redacted) }

// Reveal returns the key itself.
func (s Secret) Reveal() string { return s.v }

// Redact replaces every occurrence of the key in text.
func (s Secret) Redact(text string) string {
	if len(s.v) < 4 { // an empty or trivial key would redact everything
		return text
	}
	return strings.ReplaceAll(text, s.v, redacted)
}

// Duration is a time.Duration that reads and writes as "90s" in JSON (a bare
// number is taken as seconds).
type Duration time.Duration

func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

func (d *Duration) UnmarshalJSON(b []byte) error {
	var n float64
	if err := json.Unmarshal(b, &n); err == nil {
		*d = Duration(n * float64(time.Second))
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("duration: want a string like \"90s\" or seconds, got %s", b)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("duration: %w", err)
	}
	*d = Duration(v)
	return nil
}

// D returns the value as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }
