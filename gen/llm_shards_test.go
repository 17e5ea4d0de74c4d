package gen

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/boostgen/boostgen/gen/synthetic/synthtest"
	"github.com/boostgen/boostgen/internal/blob"
	"github.com/boostgen/boostgen/internal/blob/s3/s3test"
	"github.com/boostgen/boostgen/internal/llm/llmtest"
	"github.com/boostgen/boostgen/internal/testenv"
)

// Three shard processes run at once into one output against one server,
// with a budget that pays for about half the work. Each sees the others'
// spending while it runs, so together they stop within the documented
// bound (docs/llm.md): the budget, plus per shard the requests its workers
// had in flight, plus what every shard can send in two llm.budget_sync
// intervals (here the client's rpm caps that). Each exits through the
// budget path. Rerun with a larger budget, the shards finish the rest and
// the finalized dataset is the one an unsharded run makes.
func TestLLMBudgetHoldsAcrossShards(t *testing.T) {
	bin := testenv.Boostgen(t)
	const (
		shards  = 3
		workers = 2
		scenes  = 30
		perItem = 4 // caption + 3 VQA kinds of a 2-view scene
		cost    = 0.0035
		rpm     = 300 // per shard: 5 requests a second
		syncSec = 0.1 // llm.budget_sync, seconds
	)
	views := make([]int, scenes)
	for n := range views {
		views[n] = 2
	}
	root := synthtest.CaptionlessScans(t, 8, views...)
	srv := llmtest.New(llmtest.StageAnswer)
	defer srv.Close()
	dir := t.TempDir()
	// rpm and budget_sync change how a run goes, not its records (they are
	// not in the config hash): the reference run goes without them.
	configText := func(limits string) string {
		return fmt.Sprintf(`seed: 3
source: {type: scannet, scannet: {root: %q}}
output: {items_per_part: 2}
llm: {base_url: %q, model: gpt-4o-2024-08-06, stages: {interpolation: false}, %s%s}
`, root, srv.URL, testLLMPrice, limits)
	}
	config, refConfig := filepath.Join(dir, "run.yaml"), filepath.Join(dir, "ref.yaml")
	os.WriteFile(config, []byte(configText(fmt.Sprintf(", rpm: %d, budget_sync: %gs", rpm, syncSec))), 0o644)
	os.WriteFile(refConfig, []byte(configText("")), 0o644)

	// The reference: one process, no budget, its own output.
	ref := filepath.Join(dir, "ref")
	if o, err := exec.Command(bin, "run", refConfig, "--out", ref, "--workers", "2", "--no-progress").CombinedOutput(); err != nil {
		t.Fatalf("reference run: %v\n%s", err, o)
	}
	work := srv.ChatRequests() // a few scenes have no object to caption
	if work < scenes*(perItem-1) {
		t.Fatalf("the reference run made %d requests for %d scenes", work, scenes)
	}
	budget := float64(work/2) * cost
	// The bound in requests: budget, in flight, two sync intervals at rpm
	// (plus the one the limiter lets through at once).
	bound := work/2 + shards*workers + shards*(int(2*syncSec*rpm/60)+1)

	for _, where := range []string{"local", "s3"} {
		t.Run(where, func(t *testing.T) {
			env := os.Environ()
			out := filepath.Join(dir, "out")
			var st blob.Store
			if where == "s3" {
				s3 := s3test.Start(t)
				env = append(env, s3.Env()...)
				out = s3.Location("shards")
				st = s3.OpenStore(t, "shards/", s3.Options())
			} else {
				st = localStore(t, out)
			}
			boostgen := func(args ...string) (string, error) {
				cmd := exec.Command(bin, args...)
				cmd.Env = env
				var b bytes.Buffer
				cmd.Stdout, cmd.Stderr = &b, &b
				err := cmd.Run()
				return b.String(), err
			}
			runShards := func(extra ...string) ([]string, []error) {
				outs, errs := make([]string, shards), make([]error, shards)
				var wg sync.WaitGroup
				for i := 0; i < shards; i++ {
					wg.Add(1)
					go func() {
						defer wg.Done()
						args := append([]string{"run", config, "--out", out, "--shard", fmt.Sprintf("%d/%d", i, shards),
							"--workers", fmt.Sprint(workers), "--no-progress"}, extra...)
						outs[i], errs[i] = boostgen(args...)
					}()
				}
				wg.Wait()
				return outs, errs
			}

			srv0 := srv.ChatRequests()

			outs, errs := runShards("--llm-budget", fmt.Sprint(budget))
			for i, err := range errs {
				if err == nil || !strings.Contains(outs[i], "budget reached") || !strings.Contains(outs[i], "larger --llm-budget") {
					t.Errorf("shard %d: %v, want the budget stop:\n%s", i, err, outs[i])
				}
			}
			first := srv.ChatRequests() - srv0
			t.Logf("budget $%.4f (%d requests) of %d requests' work: the shards made %d, bound %d", budget, work/2, work, first, bound)
			if first > bound {
				t.Errorf("the shards made %d requests ($%.4f) under a $%.4f budget; the bound is %d", first, float64(first)*cost, budget, bound)
			}
			if first < work/2-shards*workers {
				t.Errorf("the shards made only %d requests under a budget for %d", first, work/2)
			}
			spent, err := readSpent(t.Context(), st, "")
			if err != nil || spent > float64(first)*cost+1e-9 || spent < float64(first-shards*workers)*cost-1e-9 {
				t.Errorf("ledger says $%.4f (%v) for %d requests", spent, err, first)
			}

			outs, errs = runShards("--llm-budget", "10")
			for i, err := range errs {
				if err != nil {
					t.Fatalf("shard %d with a larger budget: %v\n%s", i, err, outs[i])
				}
			}
			if o, err := boostgen("finalize", out); err != nil {
				t.Fatalf("finalize: %v\n%s", err, o)
			}
			// Requests cut off by the stop may be paid again; nothing else.
			if all := srv.ChatRequests() - srv0; all < work || all > work+shards*workers {
				t.Errorf("the two rounds made %d requests for %d requests' work", all, work)
			}
			assertSameDataset(t, localStore(t, ref), st)
		})
	}
}

// A shard killed mid-run leaves only its spend object, which keeps what it
// had paid: a later run counts it against the budget, and nothing it left
// stops the shards from finishing.
func TestLLMKilledShardSpendCounts(t *testing.T) {
	bin := testenv.Boostgen(t)
	srv := llmtest.New(llmtest.StageAnswer)
	defer srv.Close()
	dir := t.TempDir()
	root := synthtest.CaptionlessScans(t, 8, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2)
	config := filepath.Join(dir, "run.yaml")
	os.WriteFile(config, []byte(fmt.Sprintf(`seed: 3
source: {type: scannet, scannet: {root: %q}}
output: {items_per_part: 2}
llm: {base_url: %q, model: gpt-4o-2024-08-06, rpm: 300, budget_sync: 50ms, stages: {interpolation: false}, %s}
`, root, srv.URL, testLLMPrice)), 0o644)
	out := filepath.Join(dir, "out")
	st := localStore(t, out)
	run := func(args ...string) (string, error) {
		o, err := exec.Command(bin, append([]string{"run", config, "--out", out, "--workers", "1", "--no-progress"}, args...)...).CombinedOutput()
		return string(o), err
	}

	victim := exec.Command(bin, "run", config, "--out", out, "--shard", "0/2", "--workers", "1", "--no-progress")
	if err := victim.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		if spent, _ := readSpent(t.Context(), st, ""); spent >= 3*0.0035 {
			break
		}
		if time.Now().After(deadline) {
			victim.Process.Kill()
			t.Fatal("the shard published no spend in 30 s")
		}
		time.Sleep(10 * time.Millisecond) // polling the ledger, not waiting for time to pass
	}
	victim.Process.Kill()
	victim.Wait()
	spent, err := readSpent(t.Context(), st, "")
	if err != nil || spent > float64(srv.ChatRequests())*0.0035+1e-9 {
		t.Fatalf("ledger $%v (%v) after the kill; the server saw %d requests", spent, err, srv.ChatRequests())
	}

	before := srv.ChatRequests()
	if o, err := run("--shard", "1/2", "--llm-budget", fmt.Sprint(spent-0.0001)); err == nil || !strings.Contains(o, "budget reached") {
		t.Fatalf("a run under a budget the killed shard spent: %v\n%s", err, o)
	}
	if n := srv.ChatRequests() - before; n != 0 {
		t.Errorf("%d requests under a budget the killed shard had spent", n)
	}
	for _, sh := range []string{"0/2", "1/2"} {
		if o, err := run("--shard", sh, "--llm-budget", "10"); err != nil {
			t.Fatalf("shard %s after the kill: %v\n%s", sh, err, o)
		}
	}
	if o, err := exec.Command(bin, "finalize", out).CombinedOutput(); err != nil {
		t.Fatalf("finalize: %v\n%s", err, o)
	}
	if rep := Validate(t.Context(), st); !rep.OK {
		t.Fatalf("validate: %v", rep.Errors)
	}
}
