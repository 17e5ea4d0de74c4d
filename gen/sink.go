package gen

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash"
	"io"
	"sort"
	"strconv"

	"github.com/klauspost/compress/zstd"

	"github.com/boostgen/boostgen/internal/blob"
)

// Manifest is manifest.json: written last, it is what makes a dataset
// complete. Readers trust only the shards it lists.
type Manifest struct {
	SchemaVersion string       `json:"schema_version"`
	Generator     string       `json:"generator"`
	ConfigSHA256  string       `json:"config_sha256"`
	Seed          uint64       `json:"seed"`
	RecordSchema  string       `json:"record_schema"`
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
// out, so a shard's manifest entry needs no second read.
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

type shardWriter struct {
	info ShardInfo
	out  *hashedWriter
	zw   *zstd.Encoder
	body io.Writer
	raw  int64
}

// sink writes records in the order it is given them.
type sink struct {
	ctx     context.Context
	store   blob.Store
	out     OutputConfig
	cur     *shardWriter
	next    int
	shards  []ShardInfo
	images  map[string]bool
	rejects *hashedWriter
	rejCnt  int
	byCode  map[string]int
	totals  Totals
}

func newSink(ctx context.Context, store blob.Store, out OutputConfig) (*sink, error) {
	w, err := store.Create(ctx, RejectsFile)
	if err != nil {
		return nil, err
	}
	return &sink{
		ctx: ctx, store: store, out: out,
		images:  map[string]bool{},
		rejects: newHashedWriter(w),
		byCode:  map[string]int{},
		totals:  Totals{RecordsByViews: map[string]int{}},
	}, nil
}

func (s *sink) openShard() error {
	name := ShardName(s.next, s.out.Compression)
	s.next++
	w, err := s.store.Create(s.ctx, name)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	sw := &shardWriter{info: ShardInfo{Path: name}, out: newHashedWriter(w)}
	sw.body = sw.out
	if s.out.Compression == "zstd" {
		// One encoder goroutine, fixed level: zstd output is then a pure
		// function of the input, which byte-identical shards need.
		zw, err := zstd.NewWriter(sw.out, zstd.WithEncoderConcurrency(1), zstd.WithEncoderLevel(zstd.SpeedDefault))
		if err != nil {
			w.Abort()
			return err
		}
		sw.zw, sw.body = zw, zw
	}
	s.cur = sw
	return nil
}

func (s *sink) closeShard() error {
	sw := s.cur
	s.cur = nil
	if sw.zw != nil {
		if err := sw.zw.Close(); err != nil {
			sw.out.w.Abort()
			return err
		}
	}
	if err := sw.out.w.Close(); err != nil {
		return fmt.Errorf("%s: %w", sw.info.Path, err)
	}
	sw.info.Bytes, sw.info.SHA256 = sw.out.n, sw.out.sum()
	s.shards = append(s.shards, sw.info)
	s.totals.Bytes += sw.info.Bytes
	return nil
}

func (s *sink) write(o outcome) error {
	s.totals.Items++
	for _, m := range o.all() {
		if err := s.writeOne(m); err != nil {
			return err
		}
	}
	return nil
}

// writeOne writes one record or reject of an item.
func (s *sink) writeOne(o outcome) error {
	if o.reject != nil {
		b, _ := json.Marshal(o.reject)
		if _, err := s.rejects.Write(append(b, '\n')); err != nil {
			return err
		}
		s.rejCnt++
		s.byCode[o.reject.Code]++
		return nil
	}
	for _, img := range o.images {
		if s.images[img.key] {
			continue
		}
		exists, err := blob.Exists(s.ctx, s.store, img.key)
		if err != nil {
			return err
		}
		if !exists {
			if err := blob.Put(s.ctx, s.store, img.key, img.data); err != nil {
				return fmt.Errorf("%s: %w", img.key, err)
			}
		}
		s.images[img.key] = true
	}
	line, err := json.Marshal(o.record)
	if err != nil {
		return fmt.Errorf("record %s: %w", o.record.ID, err)
	}
	line = append(line, '\n')
	if s.cur != nil && (s.cur.info.Records >= s.out.ShardMaxRecords || s.cur.raw+int64(len(line)) > s.out.ShardMaxBytes && s.cur.info.Records > 0) {
		if err := s.closeShard(); err != nil {
			return err
		}
	}
	if s.cur == nil {
		if err := s.openShard(); err != nil {
			return err
		}
	}
	if _, err := s.cur.body.Write(line); err != nil {
		return fmt.Errorf("%s: %w", s.cur.info.Path, err)
	}
	s.cur.raw += int64(len(line))
	if s.cur.info.Records == 0 {
		s.cur.info.FirstID = o.record.ID
	}
	s.cur.info.LastID = o.record.ID
	s.cur.info.Records++
	s.totals.Records++
	views := 1
	if list, ok := o.record.Image.([]string); ok {
		views = len(list)
	}
	s.totals.RecordsByViews[strconv.Itoa(views)]++
	return nil
}

// finish closes the last shard and the rejects file, then writes the
// manifest — last, so that a dataset is complete exactly when it has one.
func (s *sink) finish(m Manifest) (*Manifest, error) {
	if s.cur != nil {
		if err := s.closeShard(); err != nil {
			return nil, err
		}
	}
	if err := s.rejects.w.Close(); err != nil {
		return nil, fmt.Errorf("%s: %w", RejectsFile, err)
	}
	sort.Slice(s.shards, func(i, j int) bool { return s.shards[i].Path < s.shards[j].Path })
	m.SchemaVersion = ManifestSchemaVersion
	m.RecordSchema = RecordSchemaVersion
	m.Shards = s.shards
	if m.Shards == nil {
		m.Shards = []ShardInfo{}
	}
	m.Rejects = &RejectsInfo{Path: RejectsFile, Count: s.rejCnt, SHA256: s.rejects.sum(), ByReason: s.byCode}
	s.totals.Rejects = s.rejCnt
	s.totals.Images = len(s.images)
	m.Totals = s.totals
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := blob.Put(s.ctx, s.store, ManifestFile, append(b, '\n')); err != nil {
		return nil, fmt.Errorf("%s: %w", ManifestFile, err)
	}
	return &m, nil
}

// abort discards what is open; committed parts stay (a rerun replaces them).
func (s *sink) abort() {
	if s.cur != nil {
		s.cur.out.w.Abort()
		s.cur = nil
	}
	s.rejects.w.Abort()
}
