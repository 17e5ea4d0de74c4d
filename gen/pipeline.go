package gen

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/boostgen/boostgen/internal/blob"
)

// RunOptions are a run's settings that do not change its output.
type RunOptions struct {
	Out     string // output location: a folder (or s3://bucket/prefix)
	Workers int    // parallel item workers; 0 = one per CPU
	Limit   int    // stop after this many items; 0 = all
	Logger  *slog.Logger
	// OnProgress is called from one goroutine after each item is written.
	OnProgress func(Progress)
	// LLMBudgetUSD, when positive, replaces llm.budget_usd (gen/llmrun.go).
	LLMBudgetUSD float64
}

// Progress is a snapshot for progress displays.
type Progress struct {
	Total   int // -1 when unknown
	Done    int
	Records int
	Rejects int
	Elapsed time.Duration
}

// Summary is what a finished run reports.
type Summary struct {
	Out           string         `json:"out"`
	Items         int            `json:"items"`
	Records       int            `json:"records"`
	Rejects       int            `json:"rejects"`
	RejectsByCode map[string]int `json:"rejects_by_reason"`
	Shards        int            `json:"shards"`
	Images        int            `json:"images"`
	Bytes         int64          `json:"bytes"`
	Elapsed       time.Duration  `json:"-"`
	Seconds       float64        `json:"seconds"`
	RecordsPerSec float64        `json:"records_per_second"`
	LLM           *LLMSummary    `json:"llm,omitempty"`
}

// Run generates a dataset. Items are processed by a pool of workers; their
// results pass through a reordering window so that records are written in
// source order, which makes output identical for any number of workers.
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
	out := opts.Out
	if out == "" {
		out = cfg.Output.Dir
	}
	proc, err := newProcessor(cfg)
	if err != nil {
		return nil, err
	}
	src, err := NewSource(cfg)
	if err != nil {
		return nil, err
	}
	store, err := blob.Open(ctx, out)
	if err != nil {
		return nil, err
	}
	if err := prepareOutput(ctx, store); err != nil {
		return nil, err
	}
	snk, err := newSink(ctx, store, cfg.Output)
	if err != nil {
		return nil, err
	}
	llmSt, err := newLLMStage(ctx, cfg, store, log, opts.LLMBudgetUSD)
	if err != nil {
		snk.abort()
		return nil, err
	}
	defer llmSt.close(ctx)
	if err := llmSt.prefetch(ctx, src, proc, func(seq int) bool { return opts.Limit <= 0 || seq < opts.Limit }); err != nil {
		snk.abort()
		return nil, err
	}

	total := src.Count()
	if opts.Limit > 0 && (total < 0 || opts.Limit < total) {
		total = opts.Limit
	}
	log.Info("run", "out", store.String(), "items", total, "workers", workers, "seed", cfg.Seed)

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	type job struct {
		seq  int
		task Task
	}
	type done struct {
		seq int
		out outcome
	}
	// window bounds how far workers may run ahead of the writer, and so the
	// memory held by finished but not yet written items.
	window := make(chan struct{}, 4*workers)
	jobs := make(chan job, workers)
	results := make(chan done, workers)

	var srcErr error
	go func() {
		defer close(jobs)
		seq := 0
		srcErr = src.Tasks(ctx, func(t Task) bool {
			if opts.Limit > 0 && seq >= opts.Limit {
				return false
			}
			select {
			case window <- struct{}{}:
			case <-ctx.Done():
				return false
			}
			select {
			case jobs <- job{seq: seq, task: t}:
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
				o := llmSt.apply(ctx, it, proc.process(it))
				select {
				case results <- done{seq: j.seq, out: o}:
				case <-ctx.Done():
					return
				}
			}
		}()
	}
	go func() { wg.Wait(); close(results) }()

	pending := map[int]outcome{}
	next := 0
	var writeErr error
	for d := range results {
		if writeErr != nil {
			continue // drain
		}
		pending[d.seq] = d.out
		for {
			o, ok := pending[next]
			if !ok {
				break
			}
			delete(pending, next)
			if o.fatal != nil {
				writeErr = o.fatal
				cancel()
				break
			}
			if err := snk.write(o); err != nil {
				writeErr = err
				cancel()
				break
			}
			if o.reject != nil {
				log.Debug("reject", "item", o.reject.Item, "code", o.reject.Code, "reason", o.reject.Reason)
			}
			next++
			<-window
			if opts.OnProgress != nil {
				opts.OnProgress(Progress{Total: total, Done: snk.totals.Items, Records: snk.totals.Records, Rejects: snk.rejCnt, Elapsed: time.Since(start)})
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
	m, err := snk.finish(Manifest{Generator: "boostgen " + Version, ConfigSHA256: proc.configHash, Seed: cfg.Seed})
	if err != nil {
		return nil, err
	}
	el := time.Since(start)
	s := &Summary{
		Out: store.String(), Items: m.Totals.Items, Records: m.Totals.Records, Rejects: m.Totals.Rejects,
		RejectsByCode: m.Rejects.ByReason, Shards: len(m.Shards), Images: m.Totals.Images, Bytes: m.Totals.Bytes,
		Elapsed: el, Seconds: el.Seconds(), LLM: llmSt.summary(),
	}
	if el > 0 {
		s.RecordsPerSec = float64(s.Records) / el.Seconds()
	}
	return s, nil
}

// prepareOutput refuses to overwrite a finished dataset and clears the
// leftovers of an interrupted run (parts and rejects without a manifest).
func prepareOutput(ctx context.Context, store blob.Store) error {
	done, err := blob.Exists(ctx, store, ManifestFile)
	if err != nil {
		return err
	}
	if done {
		return fmt.Errorf("%s already holds a finished dataset (%s); choose another --out or remove it", store, ManifestFile)
	}
	list, err := store.List(ctx, "")
	if err != nil {
		return err
	}
	for _, info := range list {
		if strings.HasPrefix(info.Key, "part-") || info.Key == RejectsFile {
			if err := store.Delete(ctx, info.Key); err != nil {
				return err
			}
		}
	}
	return nil
}
