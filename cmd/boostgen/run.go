package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/boostgen/boostgen/gen"
)

type runOptions struct {
	*globalOptions
	config   string
	out      string
	seed     uint64
	limit    int
	workers  int
	json     bool
	noBar    bool
	shard    string
	forceNew bool
	budget   float64

	cfg       *gen.Config
	shardSpec gen.Shard
	cluster   *clusterRun
}

func newRunCommand(g *globalOptions) *cobra.Command {
	o := &runOptions{globalOptions: g}
	cmd := &cobra.Command{
		Use:   "run CONFIG.yaml",
		Short: "Generate a dataset from a config",
		Long: `Run reads a config (validated against schemas/config.schema.json before any
work starts), generates one record per usable item, and writes to the output
folder or s3://bucket/prefix: part-NNNNN.jsonl.zst shards, images/
(content-addressed), rejects.jsonl (every item that became no record, with
the reason) and manifest.json, last.

The same config and seed give byte-identical shards for any --workers.

Runs resume: part p holds items p*K to p*K+K-1 (K = output.items_per_part),
and each finished part is committed with a part manifest under _parts/.
Rerunning the same command after a crash, a kill or Ctrl-C skips the
committed parts and writes the rest; the result is byte-identical to an
uninterrupted run. A different config on the same output is refused unless
--force-new, which deletes the old run first.

--shard I/N writes only the parts p with p mod N = I, so N processes on N
machines can share one output; then run boostgen finalize OUT once.`,
		Example: `  # The built-in synthetic scenes: 240 single-view and 120 multi-view records.
  boostgen run examples/quickstart.yaml --out out/quickstart

  # A quick look: 20 items, another seed, a JSON summary on stdout.
  boostgen run examples/quickstart.yaml --out /tmp/try --limit 20 --seed 7 --json

  # To S3 (or MinIO, R2...), in three processes, then finalize.
  boostgen run cfg.yaml --out s3://bucket/ds --shard 0/3   # and 1/3, 2/3
  boostgen finalize s3://bucket/ds`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.cluster.enabled {
				if cmd.Flags().Changed("llm-budget") {
					return fmt.Errorf("--llm-budget applies to a local run; on a cluster set llm.budget_usd in the config")
				}
				return o.cluster.run(cmd, args[0], o.out)
			}
			if err := o.complete(cmd, args); err != nil {
				return err
			}
			if err := o.validate(); err != nil {
				return err
			}
			return o.run(cmd)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.out, "out", "", "output folder (default: output.dir from the config)")
	f.Uint64Var(&o.seed, "seed", 0, "override the config's seed")
	f.IntVar(&o.limit, "limit", 0, "process at most N items (0 = all)")
	f.IntVar(&o.workers, "workers", 0, "parallel workers (0 = one per CPU)")
	f.BoolVar(&o.json, "json", false, "print the summary as JSON on stdout")
	f.BoolVar(&o.noBar, "no-progress", false, "no progress bar, even on a terminal")
	f.StringVar(&o.shard, "shard", "", "write only shard I of N (I/N, such as 0/3); finalize with boostgen finalize")
	f.BoolVar(&o.forceNew, "force-new", false, "delete an output started with another config instead of refusing")
	f.Float64Var(&o.budget, "llm-budget", 0, "stop the GPT stages cleanly once the estimated spend on this output reaches USD (replaces llm.budget_usd; a rerun goes on from the cache)")
	o.cluster = addClusterRun(cmd)
	return cmd
}

func (o *runOptions) complete(cmd *cobra.Command, args []string) error {
	o.config = args[0]
	cfg, err := gen.LoadConfig(o.config)
	if err != nil {
		return err
	}
	if cmd.Flags().Changed("seed") {
		cfg.Seed = o.seed
	}
	o.cfg = cfg
	return nil
}

func (o *runOptions) validate() error {
	if o.limit < 0 {
		return fmt.Errorf("--limit %d: must be 0 or more", o.limit)
	}
	if o.workers < 0 {
		return fmt.Errorf("--workers %d: must be 0 or more", o.workers)
	}
	if o.budget < 0 {
		return fmt.Errorf("--llm-budget %g: must be 0 or more", o.budget)
	}
	if o.budget > 0 && o.cfg.LLM == nil {
		return fmt.Errorf("--llm-budget: the config %s has no llm section", o.config)
	}
	if o.cfg.Seed == 0 {
		return fmt.Errorf("--seed 0: seeds start at 1")
	}
	if o.shard != "" {
		sh, err := gen.ParseShard(o.shard)
		if err != nil {
			return err
		}
		o.shardSpec = sh
	}
	return nil
}

func (o *runOptions) run(cmd *cobra.Command) error {
	stderr := cmd.ErrOrStderr()
	progress := newProgress(stderr, o.noBar)
	sum, err := gen.Run(cmd.Context(), o.cfg, gen.RunOptions{
		Out: o.out, Workers: o.workers, Limit: o.limit,
		Shard: o.shardSpec, ForceNew: o.forceNew, LLMBudgetUSD: o.budget,
		Logger: o.logger(), OnProgress: progress.update,
	})
	progress.finish()
	if err != nil {
		return err
	}
	report := o.cfg.FilterReport()
	if o.json {
		enc := json.NewEncoder(cmd.OutOrStdout())
		enc.SetIndent("", "  ")
		return enc.Encode(struct {
			*gen.Summary
			Filters *gen.FilterReport `json:"filters,omitempty"`
		}{sum, report})
	}
	printSummary(stderr, sum)
	printFilterReport(stderr, report)
	return nil
}

// printFilterReport adds the filter stages' decisions to the summary.
func printFilterReport(w io.Writer, r *gen.FilterReport) {
	if r == nil {
		return
	}
	for _, c := range r.CLIP {
		sign := "-"
		if c.Positive {
			sign = "+"
		}
		fmt.Fprintf(w, "  clip %s %-52q kept %d, dropped %d\n", sign, c.Label, c.Kept, c.Dropped)
	}
	if n := r.Naming; n != nil {
		fmt.Fprintf(w, "  naming: %d masks named, %d ambiguous (left unnamed)\n", n.Named, n.Ambiguous)
	}
	if p := r.Pairs; p != nil && p.Frames > 0 {
		fmt.Fprintf(w, "  lpips: %d pairs from %d frames, %.1f evaluations per frame\n", p.Pairs, p.Frames, float64(p.Evaluations)/float64(p.Frames))
	}
	if v := r.PairViews; v != nil && v.UpTo8+v.UpTo4+v.Only2 > 0 {
		fmt.Fprintf(w, "  pairs: %d with frames between for up to 8 views, %d for up to 4, %d stay 2-view (fewer than 2 frames between)\n", v.UpTo8, v.UpTo4, v.Only2)
	}
}

func printSummary(w io.Writer, s *gen.Summary) {
	fmt.Fprintf(w, "boostgen: %d items in, %d records out, %d rejected, in %.1fs (%.1f records/s)\n",
		s.Items, s.Records, s.Rejects, s.Seconds, s.RecordsPerSec)
	codes := make([]string, 0, len(s.RejectsByCode))
	for c := range s.RejectsByCode {
		codes = append(codes, c)
	}
	sort.Strings(codes)
	for _, c := range codes {
		fmt.Fprintf(w, "  rejected %-12s %d\n", c+":", s.RejectsByCode[c])
	}
	fmt.Fprintf(w, "  %d part files (%d written now, %d from an earlier run), %d images, %s of parts in %s\n",
		s.Shards, s.PartsWritten, s.PartsSkipped, s.Images, humanBytes(s.Bytes), s.Out)
	if !s.Finalized {
		fmt.Fprintf(w, "  shard %s done; once every shard is, run: boostgen finalize %s\n", s.Shard, s.Out)
	}
	printLLMSummary(w, s.LLM)
}

func printLLMSummary(w io.Writer, l *gen.LLMSummary) {
	if l == nil {
		return
	}
	budget := "no budget"
	if l.BudgetUSD > 0 {
		budget = fmt.Sprintf("budget $%.4f", l.BudgetUSD)
	}
	fmt.Fprintf(w, "  llm %s: $%.4f this run, $%.4f on this output (%s)\n", l.Model, l.CostUSD, l.SpentUSD, budget)
	for _, name := range l.StageNames() {
		u := l.Stages[name]
		fmt.Fprintf(w, "    %-11s %d requests, %d cached, %d retries, %d failed, %d+%d tokens, $%.4f\n",
			name+":", u.Requests, u.CacheHits, u.Retries, u.Failures, u.PromptTokens, u.CompletionTokens, u.CostUSD)
	}
}

func humanBytes(n int64) string {
	switch {
	case n >= 1e9:
		return fmt.Sprintf("%.1f GB", float64(n)/1e9)
	case n >= 1e6:
		return fmt.Sprintf("%.1f MB", float64(n)/1e6)
	case n >= 1e3:
		return fmt.Sprintf("%.1f kB", float64(n)/1e3)
	}
	return fmt.Sprintf("%d B", n)
}

// progress shows a bar on a terminal and a plain line every few seconds
// elsewhere (CI logs, files), where a bar's redraws would be noise.
type progress struct {
	w       io.Writer
	bar     *progressbar.ProgressBar
	last    time.Time
	every   time.Duration
	current gen.Progress
}

func newProgress(w io.Writer, noBar bool) *progress {
	p := &progress{w: w, every: 5 * time.Second, last: time.Now()}
	if f, ok := w.(*os.File); ok && !noBar && term.IsTerminal(int(f.Fd())) {
		p.bar = progressbar.NewOptions(-1,
			progressbar.OptionSetWriter(w),
			progressbar.OptionSetDescription("items"),
			progressbar.OptionShowCount(),
			progressbar.OptionShowIts(),
			progressbar.OptionSetItsString("items"),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionClearOnFinish(),
		)
	}
	return p
}

func (p *progress) update(s gen.Progress) {
	p.current = s
	if p.bar != nil {
		if s.Total >= 0 && p.bar.GetMax() != s.Total {
			p.bar.ChangeMax(s.Total)
		}
		p.bar.Describe(fmt.Sprintf("%d records, %d rejects", s.Records, s.Rejects))
		p.bar.Set(s.Done)
		return
	}
	if time.Since(p.last) >= p.every {
		p.last = time.Now()
		p.line()
	}
}

func (p *progress) line() {
	s := p.current
	rate := float64(s.Done) / max(s.Elapsed.Seconds(), 1e-9)
	total := "?"
	if s.Total >= 0 {
		total = fmt.Sprint(s.Total)
	}
	fmt.Fprintf(p.w, "boostgen: %d/%s items, %d records, %d rejects, %.1f items/s\n", s.Done, total, s.Records, s.Rejects, rate)
}

func (p *progress) finish() {
	if p.bar != nil {
		p.bar.Finish()
	}
}
