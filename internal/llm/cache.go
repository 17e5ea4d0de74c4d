package llm

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	openai "github.com/sashabaranov/go-openai"

	"github.com/boostgen/boostgen/internal/blob"
)

// CachePrefix is where responses live in the store. Each is a small JSON
// file named by its key, so any number of runs can share one store.
const CachePrefix = "llm/cache/"

// cacheVersion changes whenever the key's recipe does, so an old cache is
// never misread.
const cacheVersion = "boostgen-llm-cache-v1"

// cacheKey is the SHA-256 of the endpoint and the complete request body:
// model, every message with its images (the data URLs carry the bytes),
// detail, response schema, temperature, token limit and seed. Anything
// that could change the answer changes the key; the API key does not.
func (c *Client) cacheKey(body openai.ChatCompletionRequest) (string, error) {
	b, err := json.Marshal(body)
	if err != nil {
		return "", fmt.Errorf("llm: encode request: %w", err)
	}
	h := sha256.New()
	h.Write([]byte(cacheVersion + "\x00" + strings.TrimRight(c.cfg.BaseURL, "/") + "\x00"))
	h.Write(b)
	return hex.EncodeToString(h.Sum(nil)), nil
}

// keyedRequest builds req's body and its cache key.
func (c *Client) keyedRequest(req Request) (openai.ChatCompletionRequest, string, error) {
	body, err := c.buildRequest(req)
	if err != nil {
		return body, "", err
	}
	key, err := c.cacheKey(body)
	return body, key, err
}

func cachePath(key string) string { return CachePrefix + key[:2] + "/" + key + ".json" }

func (c *Client) cacheGet(ctx context.Context, key string) (Response, bool, error) {
	if c.store == nil {
		return Response{}, false, nil
	}
	b, err := blob.ReadAll(ctx, c.store, cachePath(key))
	if errors.Is(err, blob.ErrNotExist) {
		return Response{}, false, nil
	}
	if err != nil {
		return Response{}, false, fmt.Errorf("llm cache: read %s: %w", cachePath(key), err)
	}
	var r Response
	if err := json.Unmarshal(b, &r); err != nil {
		// A damaged entry is a miss: the request is made again and the
		// entry rewritten.
		c.log.Warn("llm cache: unreadable entry, asking again", "key", cachePath(key), "err", err)
		_ = c.store.Delete(ctx, cachePath(key))
		return Response{}, false, nil
	}
	r.Cached = true
	return r, true, nil
}

func (c *Client) cachePut(ctx context.Context, key string, r Response) error {
	if c.store == nil {
		return nil
	}
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	// Two workers that raced on the same request both got an answer: the
	// first one written wins, and the second is not an error.
	if err := c.store.PutIfAbsent(ctx, cachePath(key), b); err != nil && !errors.Is(err, blob.ErrExists) {
		return fmt.Errorf("llm cache: write %s: %w", cachePath(key), err)
	}
	return nil
}
