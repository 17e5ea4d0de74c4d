package gen

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"time"

	"github.com/boostgen/boostgen/internal/blob"
)

// RunOptions are a run's settings that do not change its output.
type RunOptions struct {
	Out     string // output location: a folder (or s3://bucket/prefix)
	Workers int    // parallel item workers; 0 = one per CPU
	Limit   int    // stop after this many items; 0 = all
	// Shard limits this process to its share of the parts; the zero value
	// is the whole run, which finalizes the dataset itself at the end.
	Shard Shard
	// ForceNew deletes an output started with another configuration
	// instead of refusing it.
	ForceNew bool
	Logger   *slog.Logger
	// OnProgress is called from one goroutine after each item is written.
	OnProgress func(Progress)
	// LLMBudgetUSD, when positive, replaces llm.budget_usd (gen/llmrun.go).
	LLMBudgetUSD float64
}

// Progress is a snapshot for progress displays.
type Progress struct {
	Total   int // items this process will process
	Done    int
	Records int
	Rejects int
	Elapsed time.Duration
}

// Summary is what a finished run reports. For a single-process run it
// describes the dataset; for a shard, the parts of that shard.
type Summary struct {
	Out           string         `json:"out"`
	Shard         string         `json:"shard"`
	Items         int            `json:"items"`
	Records       int            `json:"records"`
	Rejects       int            `json:"rejects"`
	RejectsByCode map[string]int `json:"rejects_by_reason"`
	Shards        int            `json:"shards"`
	Images        int            `json:"images"`
	Bytes         int64          `json:"bytes"`
	// PartsSkipped counts parts committed by an earlier, interrupted run.
	PartsSkipped int `json:"parts_skipped"`
	// PartsWritten counts parts this run wrote.
	PartsWritten int `json:"parts_written"`
	// Finalized is true when this run wrote (or found) manifest.json.
	Finalized     bool          `json:"finalized"`
	Elapsed       time.Duration `json:"-"`
	Seconds       float64       `json:"seconds"`
	RecordsPerSec float64       `json:"records_per_second"`
	LLM           *LLMSummary   `json:"llm,omitempty"`
}

// Run generates a dataset, or one shard's parts of it. Items are processed
// by a pool of workers; their results pass through a reordering window so
// that records are written in source order. Part p holds the items with
// index in [p·K, (p+1)·K), K = output.items_per_part, so that what a part
// holds never depends on workers, shards or interruptions: a rerun skips
// the parts already committed and writes the others again, byte for byte.
func Run(ctx context.Context, cfg *Config, opts RunOptions) (*Summary, error) {
	start := time.Now()
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	workers := opts.Workers
	if workers <= 0 {
		workers = runtime.NumCPU()
	}
	shard := opts.Shard
	if shard.Count == 0 {
		shard = WholeRun
	}
	if err := shard.check(); err != nil {
		return nil, err
	}
	out := opts.Out
	if out == "" {
		out = cfg.Output.Dir
	}
	proc, err := newProcessor(cfg)
	if err != nil {
		return nil, err
	}
	defer proc.Close() // releases model sessions
	src, err := NewSource(cfg)
	if err != nil {
		return nil, err
	}
	items, err := countItems(ctx, src)
	if err != nil {
		return nil, err
	}
	if opts.Limit > 0 && opts.Limit < items {
		items = opts.Limit
	}
	store, err := blob.Open(ctx, out)
	if err != nil {
		return nil, err
	}
	id := newRunIdentity(cfg, proc.configHash, items)
	done, err := prepareOutput(ctx, store, id, opts.ForceNew, log)
	if err != nil {
		return nil, err
	}
	llmSt, err := newLLMStage(ctx, cfg, store, log, opts.LLMBudgetUSD)
	if err != nil {
		return nil, err
	}
	defer llmSt.close(ctx)
	mine := shard.Parts(id.Parts)
	todo := map[int]bool{}
	total := 0
	for _, p := range mine {
		if done[p] == nil {
			todo[p] = true
			total += min((p+1)*id.ItemsPerPart, items) - p*id.ItemsPerPart
		}
	}
	if err := llmSt.prefetch(ctx, src, proc, func(i int) bool { return i < items && todo[i/id.ItemsPerPart] }); err != nil {
		return nil, err
	}
	note, _ := json.Marshal(shardNote{Shard: shard.Index, Of: shard.Count, Parts: mine})
	if err := blob.Put(ctx, store, shardNoteKey(shard), note); err != nil {
		return nil, fmt.Errorf("%s: %w", shardNoteKey(shard), err)
	}
	log.Info("run", "out", store.String(), "shard", shard.String(), "items", total, "parts", len(todo),
		"parts_done_before", len(mine)-len(todo), "workers", workers, "seed", cfg.Seed)

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// Two parts in flight let one upload while the next is encoded; more
	// encode in parallel when there are cores to spare.
	snk := newSink(ctx, store, cfg.Output, proc.configHash, items, min(max(2, workers), 8))
	written := &imageSet{keys: map[string]bool{}}

	type job struct {
		seq, idx int
		task     Task
	}
	type result struct {
		seq, idx int
		out      outcome
		line     []byte
		err      error
	}
	// window bounds how far workers may run ahead of the writer, and so the
	// memory held by finished but not yet written items.
	window := make(chan struct{}, 4*workers)
	jobs := make(chan job, workers)
	results := make(chan result, workers)

	var srcErr error
	go func() {
		defer close(jobs)
		seq, idx := 0, 0
		srcErr = src.Tasks(ctx, func(t Task) bool {
			if idx >= items {
				return false
			}
			i := idx
			idx++
			if !todo[i/id.ItemsPerPart] {
				return true // another shard's part, or committed already
			}
			select {
			case window <- struct{}{}:
			case <-ctx.Done():
				return false
			}
			select {
			case jobs <- job{seq: seq, idx: i, task: t}:
			case <-ctx.Done():
				return false
			}
			seq++
			return true
		})
	}()

	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				it := j.task.Load(ctx)
				if it.ID == "" {
					it.ID = j.task.ID
				}
				r := result{seq: j.seq, idx: j.idx, out: llmSt.apply(ctx, it, proc.process(ctx, it))}
				if r.out.fatal == nil {
					// Images go out before the records that name them
					// reach their part, so a committed part never points
					// at a missing image. An item's records (its own and
					// the LLM stages') travel as one run of lines.
					for _, m := range r.out.all() {
						if m.record == nil {
							continue
						}
						if r.err = written.put(ctx, store, m.images); r.err != nil {
							break
						}
						var line []byte
						if line, r.err = json.Marshal(m.record); r.err != nil {
							break
						}
						r.line = append(append(r.line, line...), '\n')
					}
				}
				select {
				case results <- r:
				case <-ctx.Done():
					return
				}
			}
		}()
	}
	go func() { wg.Wait(); close(results) }()

	pending := map[int]result{}
	next := 0
	var writeErr error
	var prog Progress
	for d := range results {
		if writeErr != nil {
			continue // drain
		}
		pending[d.seq] = d
		for {
			r, ok := pending[next]
			if !ok {
				break
			}
			delete(pending, next)
			if r.out.fatal != nil {
				writeErr = r.out.fatal
				cancel()
				break
			}
			err := r.err
			if err == nil {
				err = snk.write(r.idx, r.out, r.line)
			}
			if err != nil {
				writeErr = err
				cancel()
				break
			}
			prog.Done++
			for _, o := range r.out.all() {
				if o.reject != nil {
					prog.Rejects++
					log.Debug("reject", "item", o.reject.Item, "code", o.reject.Code, "reason", o.reject.Reason)
				} else {
					prog.Records++
				}
			}
			next++
			<-window
			if opts.OnProgress != nil {
				prog.Total, prog.Elapsed = total, time.Since(start)
				opts.OnProgress(prog)
			}
		}
	}
	if writeErr == nil && srcErr != nil && !errors.Is(srcErr, context.Canceled) {
		writeErr = fmt.Errorf("source: %w", srcErr)
	}
	if writeErr == nil && ctx.Err() != nil {
		writeErr = ctx.Err()
	}
	if writeErr != nil {
		snk.abort()
		return nil, writeErr
	}
	committed, err := snk.finish()
	if err != nil {
		return nil, err
	}
	s := &Summary{Out: store.String(), Shard: shard.String(), PartsSkipped: len(mine) - len(todo), PartsWritten: len(committed), LLM: llmSt.summary()}
	var m *Manifest
	if shard.Count == 1 {
		res, err := Finalize(ctx, store)
		if err != nil {
			return nil, err
		}
		m = res.Manifest
		s.Finalized = true
	} else {
		// A shard sums up its own parts: those committed before it started
		// and those it wrote, both already in hand.
		for _, pm := range committed {
			done[pm.Part] = pm
		}
		sub := id
		sub.Items = 0
		var mp []*partManifest
		for _, p := range mine {
			if pm := done[p]; pm != nil {
				mp = append(mp, pm)
				sub.Items += pm.ItemEnd - pm.ItemStart
			}
		}
		if m, _, err = buildManifest(sub, mp); err != nil {
			return nil, err
		}
	}
	s.Items, s.Records, s.Rejects, s.RejectsByCode = m.Totals.Items, m.Totals.Records, m.Totals.Rejects, m.Rejects.ByReason
	s.Shards, s.Images, s.Bytes = len(m.Shards), m.Totals.Images, m.Totals.Bytes
	el := time.Since(start)
	s.Elapsed, s.Seconds = el, el.Seconds()
	if el > 0 {
		s.RecordsPerSec = float64(prog.Records) / el.Seconds()
	}
	return s, nil
}

// countItems is the source's size, counted by listing when the source
// cannot say: the parts of a run are fixed before it starts.
func countItems(ctx context.Context, src Source) (int, error) {
	if n := src.Count(); n >= 0 {
		return n, nil
	}
	n := 0
	err := src.Tasks(ctx, func(Task) bool { n++; return true })
	return n, err
}

// imageSet remembers the images this process has stored, so each is
// checked and written once; several workers (or shards) writing the same
// content-addressed key at once is harmless, since the bytes are equal.
type imageSet struct {
	mu   sync.Mutex
	keys map[string]bool
}

func (s *imageSet) put(ctx context.Context, store blob.Store, imgs []imageBlob) error {
	for _, img := range imgs {
		s.mu.Lock()
		seen := s.keys[img.key]
		s.mu.Unlock()
		if seen {
			continue
		}
		exists, err := blob.Exists(ctx, store, img.key)
		if err != nil {
			return err
		}
		if !exists {
			if err := blob.Put(ctx, store, img.key, img.data); err != nil {
				return fmt.Errorf("%s: %w", img.key, err)
			}
		}
		s.mu.Lock()
		s.keys[img.key] = true
		s.mu.Unlock()
	}
	return nil
}
