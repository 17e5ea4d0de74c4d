package gen

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"sort"
	"strconv"
	"sync"

	"github.com/klauspost/compress/zstd"

	"github.com/boostgen/boostgen/internal/blob"
)

// Manifest is manifest.json: written by finalize once every part is
// committed, it is what makes a dataset complete. Readers trust only the
// shards it lists. It holds nothing that depends on how the run went
// (workers, shards, interruptions), so the same config always gives the
// same bytes.
type Manifest struct {
	SchemaVersion string       `json:"schema_version"`
	Generator     string       `json:"generator"`
	ConfigSHA256  string       `json:"config_sha256"`
	Seed          uint64       `json:"seed"`
	RecordSchema  string       `json:"record_schema"`
	ItemsPerPart  int          `json:"items_per_part,omitempty"`
	Shards        []ShardInfo  `json:"shards"`
	Rejects       *RejectsInfo `json:"rejects,omitempty"`
	Totals        Totals       `json:"totals"`
}

// ShardInfo describes one part file.
type ShardInfo struct {
	Path    string `json:"path"`
	Records int    `json:"records"`
	Bytes   int64  `json:"bytes"`
	SHA256  string `json:"sha256"`
	FirstID string `json:"first_id,omitempty"`
	LastID  string `json:"last_id,omitempty"`
	// Part is the part number; the part holds the records of the items
	// with index in [ItemStart, ItemEnd) that were not rejected.
	Part      int `json:"part"`
	ItemStart int `json:"item_start"`
	ItemEnd   int `json:"item_end"`
}

// RejectsInfo describes rejects.jsonl.
type RejectsInfo struct {
	Path     string         `json:"path"`
	Count    int            `json:"count"`
	SHA256   string         `json:"sha256"`
	ByReason map[string]int `json:"by_reason,omitempty"`
}

// Totals sums up the dataset.
type Totals struct {
	Items          int            `json:"items"`
	Records        int            `json:"records"`
	Rejects        int            `json:"rejects"`
	Bytes          int64          `json:"bytes"`
	Images         int            `json:"images"`
	RecordsByViews map[string]int `json:"records_by_views,omitempty"`
}

// Names of the files a dataset is made of.
const (
	ManifestFile = "manifest.json"
	RejectsFile  = "rejects.jsonl"
)

// ShardName is the name of part number n.
func ShardName(n int, compression string) string {
	name := fmt.Sprintf("part-%05d.jsonl", n)
	if compression == "zstd" {
		name += ".zst"
	}
	return name
}

// hashedWriter streams into a blob while hashing and counting what goes
// out, so a part's manifest needs no second read.
type hashedWriter struct {
	w blob.Writer
	h hash.Hash
	n int64
}

func newHashedWriter(w blob.Writer) *hashedWriter { return &hashedWriter{w: w, h: sha256.New()} }

func (hw *hashedWriter) Write(p []byte) (int, error) {
	n, err := hw.w.Write(p)
	hw.h.Write(p[:n])
	hw.n += int64(n)
	return n, err
}

func (hw *hashedWriter) sum() string { return hex.EncodeToString(hw.h.Sum(nil)) }

// Sink tuning. A part's records travel to its encoder in batches of about
// batchBytes; up to batchesPerPart wait per part, so the sink can move on
// to the next part while earlier ones are still compressing and uploading,
// and so parts compress in parallel, one encoder each.
const (
	batchBytes     = 64 << 10
	batchesPerPart = 128
)

// sink writes the records of one process's parts. It is fed in item order
// from one goroutine; each part is encoded, uploaded and committed (its
// part manifest written) by a goroutine of its own.
type sink struct {
	ctx        context.Context
	store      blob.Store
	out        OutputConfig
	configHash string
	items      int // items in the whole run: the last part may be short
	cur        *partWriter
	inFlight   chan struct{}
	wg         sync.WaitGroup

	mu        sync.Mutex
	err       error
	committed []*partManifest
}

func newSink(ctx context.Context, store blob.Store, out OutputConfig, configHash string, items, maxInFlight int) *sink {
	return &sink{
		ctx: ctx, store: store, out: out, configHash: configHash, items: items,
		inFlight: make(chan struct{}, max(maxInFlight, 1)),
	}
}

// partWriter is one part on its way out. The sink goroutine fills pm's
// record fields and batches; the part's goroutine fills in the file's
// path, size and hash once the batches channel is closed.
type partWriter struct {
	pm      partManifest
	images  map[string]bool
	batch   []byte
	batches chan []byte
	aborted bool
}

func (s *sink) fail(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err == nil {
		s.err = err
	}
}

func (s *sink) failed() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// write adds the outcome of item idx; line is its record's JSON line.
func (s *sink) write(idx int, o outcome, line []byte) error {
	if err := s.failed(); err != nil {
		return err
	}
	part := idx / s.out.ItemsPerPart
	if s.cur != nil && s.cur.pm.Part != part {
		s.closePart(false)
	}
	if s.cur == nil {
		if err := s.openPart(part); err != nil {
			return err
		}
	}
	pw := s.cur
	if o.reject != nil {
		pw.pm.Rejects = append(pw.pm.Rejects, *o.reject)
		return nil
	}
	for _, img := range o.images {
		pw.images[img.key] = true
	}
	if pw.pm.Records == 0 {
		pw.pm.FirstID = o.record.ID
	}
	pw.pm.LastID = o.record.ID
	pw.pm.Records++
	views := 1
	if list, ok := o.record.Image.([]string); ok {
		views = len(list)
	}
	pw.pm.RecordsByViews[strconv.Itoa(views)]++
	pw.batch = append(pw.batch, line...)
	if len(pw.batch) >= batchBytes {
		return s.send(pw)
	}
	return nil
}

func (s *sink) send(pw *partWriter) error {
	select {
	case pw.batches <- pw.batch:
		pw.batch = make([]byte, 0, batchBytes+batchBytes/4)
		return nil
	case <-s.ctx.Done():
		return s.ctx.Err()
	}
}

func (s *sink) openPart(part int) error {
	select {
	case s.inFlight <- struct{}{}:
	case <-s.ctx.Done():
		return s.ctx.Err()
	}
	k := s.out.ItemsPerPart
	pw := &partWriter{
		pm: partManifest{
			SchemaVersion: partSchemaVersion, ConfigSHA256: s.configHash, Part: part,
			ItemStart: part * k, ItemEnd: min((part+1)*k, s.items),
			RecordsByViews: map[string]int{}, Rejects: []Reject{},
		},
		images:  map[string]bool{},
		batch:   make([]byte, 0, batchBytes+batchBytes/4),
		batches: make(chan []byte, batchesPerPart),
	}
	s.cur = pw
	s.wg.Add(1)
	go s.writePart(pw)
	return nil
}

// closePart hands the current part over to its goroutine to finish.
func (s *sink) closePart(abort bool) {
	pw := s.cur
	s.cur = nil
	pw.aborted = abort
	if !abort && len(pw.batch) > 0 && s.send(pw) != nil {
		pw.aborted = true
	}
	pw.pm.Images = make([]string, 0, len(pw.images))
	for k := range pw.images {
		pw.pm.Images = append(pw.pm.Images, k)
	}
	sort.Strings(pw.pm.Images)
	close(pw.batches)
}

// writePart encodes and uploads one part's batches, then commits it.
func (s *sink) writePart(pw *partWriter) {
	defer s.wg.Done()
	defer func() { <-s.inFlight }()
	name := ShardName(pw.pm.Part, s.out.Compression)
	var (
		out  *hashedWriter
		body io.Writer
		zw   *zstd.Encoder
		err  error
	)
	for b := range pw.batches {
		if err != nil || s.failed() != nil {
			continue // drain, so that the sink never blocks on a dead part
		}
		if out == nil {
			out, body, zw, err = s.createPart(name)
			if err != nil {
				continue
			}
		}
		if _, err = body.Write(b); err != nil {
			err = fmt.Errorf("%s: %w", name, err)
		}
	}
	if err == nil && (pw.aborted || s.failed() != nil) {
		err = errAborted
	}
	if err == nil && out != nil {
		if zw != nil {
			err = zw.Close()
		}
		if err == nil {
			if err = out.w.Close(); err != nil {
				err = fmt.Errorf("%s: %w", name, err)
			}
		}
		pw.pm.Path, pw.pm.Bytes, pw.pm.SHA256 = name, out.n, out.sum()
	}
	if err == nil {
		err = commitPart(s.ctx, s.store, &pw.pm)
	}
	if err != nil {
		if out != nil {
			out.w.Abort()
		}
		if err != errAborted {
			s.fail(err)
		}
		return
	}
	s.mu.Lock()
	s.committed = append(s.committed, &pw.pm)
	s.mu.Unlock()
}

var errAborted = fmt.Errorf("aborted")

func (s *sink) createPart(name string) (*hashedWriter, io.Writer, *zstd.Encoder, error) {
	w, err := s.store.Create(s.ctx, name)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("%s: %w", name, err)
	}
	out := newHashedWriter(w)
	if s.out.Compression != "zstd" {
		return out, out, nil, nil
	}
	// One encoder goroutine per part at a fixed level: zstd output is then
	// a pure function of the input, which byte-identical parts need.
	zw, err := zstd.NewWriter(out, zstd.WithEncoderConcurrency(1), zstd.WithEncoderLevel(zstdLevel(s.out.ZstdLevel)))
	if err != nil {
		w.Abort()
		return nil, nil, nil, err
	}
	return out, zw, zw, nil
}

func zstdLevel(name string) zstd.EncoderLevel {
	switch name {
	case "fastest":
		return zstd.SpeedFastest
	case "better":
		return zstd.SpeedBetterCompression
	case "best":
		return zstd.SpeedBestCompression
	}
	return zstd.SpeedDefault
}

// finish commits the last part and waits for all; it returns the parts
// this sink committed, in part order.
func (s *sink) finish() ([]*partManifest, error) {
	if s.cur != nil {
		s.closePart(false)
	}
	s.wg.Wait()
	if err := s.failed(); err != nil {
		return nil, err
	}
	sort.Slice(s.committed, func(i, j int) bool { return s.committed[i].Part < s.committed[j].Part })
	return s.committed, nil
}

// abort discards the open part; committed parts stay, and a rerun skips
// them.
func (s *sink) abort() {
	if s.cur != nil {
		s.closePart(true)
	}
	s.wg.Wait()
}
