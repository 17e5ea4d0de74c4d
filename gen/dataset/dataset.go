// Package dataset reads a finished boostgen dataset the way its consumers
// (stats, preview) need it: the manifest, then every record of the shards it
// lists in order, then the rejects. It trusts the manifest and does no
// checking beyond decoding; `boostgen validate` is the checker.
package dataset

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/klauspost/compress/zstd"

	"github.com/boostgen/boostgen/gen"
	"github.com/boostgen/boostgen/internal/blob"
)

// ReadManifest reads and decodes manifest.json. Errors from the store name
// the key (and, for S3, the whole URL); decoding errors name file and line.
func ReadManifest(ctx context.Context, store blob.Store) (*gen.Manifest, error) {
	b, err := blob.ReadAll(ctx, store, gen.ManifestFile)
	if err != nil {
		return nil, fmt.Errorf("dataset %s: %w (a dataset is complete only once its manifest is written)", store, err)
	}
	var m gen.Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("%s/%s: %w", store, gen.ManifestFile, err)
	}
	return &m, nil
}

// Entry is one record with where it was read from.
type Entry struct {
	Shard  string
	Line   int // 1-based
	Record gen.Record
	// Meta is the record's meta as written, including keys later stages add
	// that gen.Meta does not know (filter scores, verdicts).
	Meta map[string]json.RawMessage
}

// Where names the entry for messages: "part-00000.jsonl.zst line 7 (id)".
func (e *Entry) Where() string {
	return fmt.Sprintf("%s line %d (%s)", e.Shard, e.Line, e.Record.ID)
}

// Images returns the record's image keys: one, or several for multi-view.
func (e *Entry) Images() []string {
	switch v := e.Record.Image.(type) {
	case string:
		return []string{v}
	case []any:
		out := make([]string, 0, len(v))
		for _, p := range v {
			if s, ok := p.(string); ok {
				out = append(out, s)
			}
		}
		return out
	case []string:
		return v
	}
	return nil
}

// Records calls fn for every record of the shards m lists, in order; it
// stops at the first error fn returns and returns it.
func Records(ctx context.Context, store blob.Store, m *gen.Manifest, fn func(*Entry) error) error {
	for _, sh := range m.Shards {
		if err := shardRecords(ctx, store, sh.Path, fn); err != nil {
			return err
		}
	}
	return nil
}

func shardRecords(ctx context.Context, store blob.Store, path string, fn func(*Entry) error) error {
	rc, err := store.Open(ctx, path)
	if err != nil {
		return fmt.Errorf("dataset %s: %w", store, err)
	}
	defer rc.Close()
	var body io.Reader = rc
	if strings.HasSuffix(path, ".zst") {
		zr, err := zstd.NewReader(rc, zstd.WithDecoderConcurrency(1))
		if err != nil {
			return fmt.Errorf("%s/%s: %w", store, path, err)
		}
		defer zr.Close()
		body = zr
	}
	sc := bufio.NewScanner(body)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	line := 0
	for sc.Scan() {
		line++
		if err := ctx.Err(); err != nil {
			return err
		}
		e := &Entry{Shard: path, Line: line}
		var raw struct {
			Meta map[string]json.RawMessage `json:"meta"`
		}
		if err := json.Unmarshal(sc.Bytes(), &e.Record); err != nil {
			return fmt.Errorf("%s/%s line %d: %w", store, path, line, err)
		}
		if err := json.Unmarshal(sc.Bytes(), &raw); err != nil {
			return fmt.Errorf("%s/%s line %d: %w", store, path, line, err)
		}
		e.Meta = raw.Meta
		if err := fn(e); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("%s/%s: %w", store, path, err)
	}
	return nil
}

// Rejects reads the rejects file the manifest names (none: nil, nil).
func Rejects(ctx context.Context, store blob.Store, m *gen.Manifest) ([]gen.Reject, error) {
	if m.Rejects == nil {
		return nil, nil
	}
	b, err := blob.ReadAll(ctx, store, m.Rejects.Path)
	if err != nil {
		return nil, fmt.Errorf("dataset %s: %w", store, err)
	}
	var out []gen.Reject
	for n, line := range strings.Split(string(b), "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		var r gen.Reject
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			return nil, fmt.Errorf("%s/%s line %d: %w", store, m.Rejects.Path, n+1, err)
		}
		out = append(out, r)
	}
	return out, nil
}
