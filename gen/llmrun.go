package gen

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/boostgen/boostgen/gen/llmstage"
	"github.com/boostgen/boostgen/gen/scene"
	"github.com/boostgen/boostgen/internal/blob"
	"github.com/boostgen/boostgen/internal/llm"
	"github.com/boostgen/boostgen/templates"
)

// Reject codes of the LLM stages.
const (
	RejectLLMCaption = "llm_caption" // the caption answer failed validation twice (or the request was refused)
	RejectLLMVQA     = "llm_vqa"     // a VQA answer for the view pair failed twice
	RejectLLMViews   = "llm_views"   // too few in-between views verified for a 4- or 8-view sample
)

// SpentPrefix holds what each run into an output spent on the LLM, one
// small object per run, so that a budget covers them all. A run rewrites
// its own object every llm.budget_sync while it pays, and reads the others
// as often: shard processes running at the same time see each other's
// spending, and no object is ever shared, so a killed shard leaves nothing
// that blocks the others (its object just keeps its last spend).
const SpentPrefix = "llm/spent/"

// llmStage runs the GPT stages on each item after the spatial record is
// planned. One is shared by all workers.
type llmStage struct {
	client      *llm.Client
	gen         *llmstage.Generator
	store       blob.Store
	model       string
	kinds       []llmstage.VQAKind
	captions    bool
	interpolate bool
	batch       bool
	log         *slog.Logger
	seed        uint64
	configHash  string
	budget      float64

	// The spend ledger (SpentPrefix): this run's object, how often it is
	// published and the others read, and the loop doing it.
	spentKey  string
	syncEvery time.Duration
	published float64
	stopSync  context.CancelFunc
	syncDone  chan struct{}
}

// newLLMStage builds the stage when the config has an llm section, and nil
// otherwise (every method is nil-safe). Its response cache lives in the
// output store, under llm/cache/, so a rerun into the same output pays for
// nothing it already has. budgetUSD, when positive, replaces
// llm.budget_usd; the budget covers every run into this output.
func newLLMStage(ctx context.Context, cfg *Config, store blob.Store, log *slog.Logger, budgetUSD float64) (*llmStage, error) {
	if cfg.LLM == nil {
		return nil, nil
	}
	lc := cfg.LLM.Config
	lc.APIKeyFile = cfg.Resolve(lc.APIKeyFile)
	if budgetUSD > 0 {
		lc.BudgetUSD = budgetUSD
	}
	spent, err := readSpent(ctx, store, "")
	if err != nil {
		return nil, err
	}
	client, err := llm.New(lc, llm.Options{Store: store, Logger: log, SpentUSD: spent})
	if err != nil {
		return nil, err
	}
	prompts := llmstage.DefaultPrompts()
	if cfg.LLM.Prompts != "" {
		if prompts, err = llmstage.LoadPrompts(cfg.Resolve(cfg.LLM.Prompts)); err != nil {
			return nil, fmt.Errorf("llm.prompts: %w", err)
		}
	}
	g, err := llmstage.New(client, prompts)
	if err != nil {
		return nil, err
	}
	s := &llmStage{
		client: client, gen: g, store: store, model: lc.Model,
		captions: *cfg.LLM.Stages.Captions, interpolate: *cfg.LLM.Stages.Interpolation, batch: cfg.LLM.Batch, log: log,
		seed: cfg.Seed, configHash: cfg.Hash(), budget: lc.BudgetUSD,
		spentKey:  fmt.Sprintf("%s%d-%d.json", SpentPrefix, time.Now().UnixNano(), os.Getpid()),
		syncEvery: cfg.LLM.BudgetSync.D(),
	}
	for _, k := range cfg.LLM.Stages.VQA {
		s.kinds = append(s.kinds, llmstage.VQAKind(k))
	}
	log.Info("llm", "endpoint", client.String(), "captions", s.captions, "vqa", cfg.LLM.Stages.VQA,
		"interpolation", s.interpolate, "batch", s.batch, "budget_usd", lc.BudgetUSD, "spent_before_usd", spent)
	loop, stop := context.WithCancel(context.WithoutCancel(ctx))
	s.stopSync, s.syncDone = stop, make(chan struct{})
	go s.syncSpend(loop)
	return s, nil
}

// syncSpend publishes this run's spend every syncEvery (when it changed)
// and, under a budget, sums every other run's object into the client's
// count, so that shards running at once hold one budget together: each
// sees the others' spending at most two intervals late (one until they
// publish, one until it reads). A store error is logged and tried again
// at the next tick; the run goes on meanwhile with the last sum it read.
func (s *llmStage) syncSpend(ctx context.Context) {
	defer close(s.syncDone)
	t := time.NewTicker(s.syncEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := s.publishSpend(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("llm: publishing this run's spend", "key", s.spentKey, "err", err)
		}
		if s.budget <= 0 {
			continue
		}
		others, err := readSpent(ctx, s.store, s.spentKey)
		if err != nil {
			if ctx.Err() == nil {
				s.log.Warn("llm: reading the other runs' spend", "err", err)
			}
			continue
		}
		s.client.SetSpentElsewhereUSD(others)
	}
}

// publishSpend writes what this run has paid to its own object, when that
// changed since the last write. A run that paid for nothing leaves none.
func (s *llmStage) publishSpend(ctx context.Context) error {
	cost := s.client.PaidUSD()
	if cost <= 0 || cost == s.published {
		return nil
	}
	b, _ := json.Marshal(map[string]any{"cost_usd": cost, "model": s.model, "updated": time.Now().UTC().Format(time.RFC3339)})
	if err := blob.Put(ctx, s.store, s.spentKey, append(b, '\n')); err != nil {
		return err
	}
	s.published = cost
	return nil
}

// readSpent sums what the runs into the output spent, but for the object
// skip (this run's own).
func readSpent(ctx context.Context, store blob.Store, skip string) (float64, error) {
	list, err := store.List(ctx, SpentPrefix)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", SpentPrefix, err)
	}
	total := 0.0
	for _, info := range list {
		if info.Key == skip {
			continue
		}
		b, err := blob.ReadAll(ctx, store, info.Key)
		if err != nil {
			return 0, fmt.Errorf("%s: %w", info.Key, err)
		}
		var v struct {
			CostUSD float64 `json:"cost_usd"`
		}
		if err := json.Unmarshal(b, &v); err != nil {
			return 0, fmt.Errorf("%s: %w", info.Key, err)
		}
		total += v.CostUSD
	}
	return total, nil
}

// close stops the ledger loop and records what this run spent; call it
// when the run ends, however it ends. A run that paid for nothing leaves
// no object.
func (s *llmStage) close(ctx context.Context) error {
	if s == nil {
		return nil
	}
	s.stopSync()
	<-s.syncDone
	return s.publishSpend(context.WithoutCancel(ctx))
}

// LLMSummary is the LLM part of a run's summary.
type LLMSummary struct {
	Model string `json:"model"`
	// Stages tallies requests, cache hits, retries, tokens and estimated
	// cost per stage (mv_vqa, caption, view_check) for this run.
	Stages map[string]llm.Usage `json:"stages"`
	// CostUSD is this run's estimated spend; SpentUSD that of every run
	// into the output; BudgetUSD the limit (0: none).
	CostUSD   float64 `json:"cost_usd"`
	SpentUSD  float64 `json:"spent_usd"`
	BudgetUSD float64 `json:"budget_usd"`
}

// summary is nil when no LLM stage ran.
func (s *llmStage) summary() *LLMSummary {
	if s == nil {
		return nil
	}
	return &LLMSummary{Model: s.model, Stages: s.client.Usage(), CostUSD: s.client.PaidUSD(), SpentUSD: s.client.SpentUSD(), BudgetUSD: s.budget}
}

// StageNames lists the stages in a stable order, for printing.
func (s *LLMSummary) StageNames() []string {
	names := make([]string, 0, len(s.Stages))
	for k := range s.Stages {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}

// apply runs the GPT stages for one item: it fills the spatial record's
// missing caption turns, and adds the item's multi-view VQA records (or
// their rejects) to o.more. An answer that fails validation becomes a
// reject with its reason; an error no other item could avoid (budget,
// quota, a refused key, the endpoint down) is set as o.fatal.
func (s *llmStage) apply(ctx context.Context, it *scene.Item, o outcome) outcome {
	if s == nil || it.Err != nil || len(it.Views) == 0 {
		return o
	}
	if o.record != nil && s.captions && missingCaptions(o.record) {
		turns, err := s.gen.Captions(ctx, llmImages(it, allViews(it)))
		if err != nil {
			reason, fatal := s.failure(err)
			if fatal != nil {
				o.fatal = fatal
				return o
			}
			// The VQA below does not need the spatial record.
			o = outcome{reject: &Reject{Item: it.ID, Index: it.Index, Code: RejectLLMCaption, Reason: reason}}
		} else {
			fillCaptions(o.record, turns, len(it.Views))
		}
	}
	if len(s.kinds) == 0 {
		return o
	}
	vq := vqaItem(it)
	for n, pr := range viewPairs(vq) {
		more, err := s.multiView(ctx, vq, n, pr)
		o.more = append(o.more, more...)
		if err != nil {
			o.fatal = err
			return o
		}
	}
	return o
}

// all is the item's own outcome followed by the records and rejects the
// LLM stages added, in the order they are written.
func (o outcome) all() []outcome {
	out := make([]outcome, 0, 1+len(o.more))
	head := o
	head.more = nil
	return append(append(out, head), o.more...)
}

func allViews(it *scene.Item) []int {
	idx := make([]int, len(it.Views))
	for n := range idx {
		idx[n] = n
	}
	return idx
}

// failure sorts an error from a stage: the reason of a reject when it is
// about this request's answer (validation failed twice, or the endpoint
// refused this one request as invalid), or an error that must stop the run.
func (s *llmStage) failure(err error) (reason string, fatal error) {
	var re *llmstage.RejectError
	if errors.As(err, &re) {
		return err.Error(), nil
	}
	var se *llm.StatusError
	if errors.As(err, &se) && !errors.Is(err, llm.ErrQuota) {
		switch se.Status {
		case http.StatusBadRequest, http.StatusRequestEntityTooLarge, http.StatusUnprocessableEntity:
			return err.Error(), nil
		}
	}
	switch {
	case errors.Is(err, llm.ErrBudget):
		return "", fmt.Errorf("%w; every answer so far is cached in %s, so a rerun with a larger --llm-budget (or llm.budget_usd) goes on where this one stopped without paying twice", err, s.store)
	case errors.Is(err, llm.ErrQuota):
		return "", fmt.Errorf("%w: the account behind the API key has no credit left; answers so far are cached in %s", err, s.store)
	}
	return "", err
}

func missingCaptions(r *Record) bool {
	for _, t := range r.Meta.Turns {
		if t.Missing && t.Level == templates.LevelCaption {
			return true
		}
	}
	return false
}

// fillCaptions puts GPT's captions into the caption turns the source could
// not fill, keeping the planner's question, and renumbers the turns.
func fillCaptions(r *Record, turns [2]llmstage.Turn, images int) {
	k := 0
	for n := range r.Meta.Turns {
		t := &r.Meta.Turns[n]
		if t.Level != templates.LevelCaption {
			continue
		}
		if t.Missing && k < len(turns) {
			t.Answer = turns[k].Answer
			t.Missing = false
			if t.Extra == nil {
				t.Extra = map[string]any{}
			}
			t.Extra["generated_by"] = "llm"
		}
		k++
	}
	asked := 0
	for n := range r.Meta.Turns {
		if !r.Meta.Turns[n].Missing {
			asked++
			r.Meta.Turns[n].Index = asked
		}
	}
	r.Conversations = conversation(r.Meta.Turns, images)
}

// llmImages are views of an item as the client sends them.
func llmImages(it *scene.Item, views []int) []llm.Image {
	out := make([]llm.Image, len(views))
	for n, v := range views {
		view := &it.Views[v]
		out[n] = llm.Image{Name: it.ID + "/" + view.Name, MIME: mimeType(view.Image.Ext), Data: view.Image.Bytes}
	}
	return out
}

func mimeType(ext string) string {
	switch strings.ToLower(ext) {
	case ".png":
		return "image/png"
	case ".webp":
		return "image/webp"
	case ".gif":
		return "image/gif"
	}
	return "image/jpeg"
}
