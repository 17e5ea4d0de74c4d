package filters_test

import (
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/boostgen/boostgen/filters"
)

// The goal of the issue, on one 320-frame synthetic clip: at most 8
// evaluations per frame, at least 95 % of the frames that have an in-band
// partner covered. (The benchmark reports the same figures over three clips.)
func TestMineCoverageGoal(t *testing.T) {
	for _, byPose := range []bool{false, true} {
		r := mineClip(t, 2, 320, byPose, filters.DefaultMineOptions)
		perFrame := float64(r.evals) / float64(r.frames)
		cov := float64(r.covered) / float64(r.coverable)
		t.Logf("byPose=%v: %.2f evaluations/frame, coverage %.1f%% (%d/%d), %d pairs", byPose, perFrame, 100*cov, r.covered, r.coverable, r.pairs)
		if r.coverable < 250 {
			t.Fatalf("only %d frames have an in-band partner; the clip does not exercise mining", r.coverable)
		}
		if perFrame > 8 || cov < 0.95 {
			t.Fatalf("byPose=%v: %.2f evaluations/frame (goal ≤ 8), coverage %.1f%% (goal ≥ 95%%)", byPose, perFrame, 100*cov)
		}
	}
}

// gapDistance is a clip where distance is a function of the gap alone.
func gapDistance(scale float64) filters.Distance {
	return func(i, j int) (float64, error) {
		return 1 - math.Exp(-math.Abs(float64(j-i))/scale), nil
	}
}

func TestMineRules(t *testing.T) {
	o := filters.DefaultMineOptions
	tests := []struct {
		name  string
		n     int
		dist  filters.Distance
		opts  func(*filters.MineOptions)
		check func(t *testing.T, pairs []filters.Pair, st filters.MineStats)
	}{
		{"pairs in band, deduplicated, caps per frame", 200, gapDistance(10), nil, func(t *testing.T, pairs []filters.Pair, st filters.MineStats) {
			count := map[int]int{}
			seen := map[[2]int]bool{}
			for _, p := range pairs {
				if p.LPIPS < 0.35 || p.LPIPS > 0.65 || p.A >= p.B {
					t.Fatalf("bad pair %+v", p)
				}
				if seen[[2]int{p.A, p.B}] {
					t.Fatalf("duplicate %+v", p)
				}
				seen[[2]int{p.A, p.B}] = true
				count[p.A]++
				count[p.B]++
			}
			for f, c := range count {
				if c > 2 {
					t.Fatalf("frame %d in %d pairs, cap is 2", f, c)
				}
			}
			if len(count) < 190 {
				t.Fatalf("%d of 200 frames covered", len(count))
			}
		}},
		{"per-clip cap", 200, gapDistance(10), func(o *filters.MineOptions) { o.PerClip = 5 }, func(t *testing.T, pairs []filters.Pair, st filters.MineStats) {
			if len(pairs) != 5 {
				t.Fatalf("%d pairs, cap 5", len(pairs))
			}
		}},
		{"nothing in band: too similar", 100, gapDistance(1e6), nil, func(t *testing.T, pairs []filters.Pair, st filters.MineStats) {
			if len(pairs) != 0 {
				t.Fatalf("%d pairs from a static clip", len(pairs))
			}
			if st.Evaluations > 100*6*2 {
				t.Fatalf("%d evaluations, more than the probe budget", st.Evaluations)
			}
		}},
		{"nothing in band: all different", 100, func(i, j int) (float64, error) { return 0.9, nil }, nil, func(t *testing.T, pairs []filters.Pair, st filters.MineStats) {
			if len(pairs) != 0 {
				t.Fatalf("%d pairs", len(pairs))
			}
		}},
		{"two frames", 2, func(i, j int) (float64, error) { return 0.5, nil }, nil, func(t *testing.T, pairs []filters.Pair, st filters.MineStats) {
			if len(pairs) != 1 || pairs[0] != (filters.Pair{A: 0, B: 1, LPIPS: 0.5}) {
				t.Fatalf("pairs %+v", pairs)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			oo := o
			if tc.opts != nil {
				tc.opts(&oo)
			}
			pairs, st, err := filters.Mine(tc.n, filters.Temporal(tc.n), tc.dist, oo)
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, pairs, st)
			again, _, _ := filters.Mine(tc.n, filters.Temporal(tc.n), tc.dist, oo)
			if !slices.Equal(pairs, again) {
				t.Fatal("mining is not deterministic")
			}
		})
	}
}

func TestMineErrors(t *testing.T) {
	_, _, err := filters.Mine(10, filters.Temporal(10), gapDistance(3), filters.MineOptions{Lo: 0.7, Hi: 0.3})
	if err == nil || !strings.Contains(err.Error(), "empty") {
		t.Fatalf("error %v, want an empty band", err)
	}
	_, _, err = filters.Mine(10, filters.Temporal(10), func(i, j int) (float64, error) {
		return 0, errTest
	}, filters.DefaultMineOptions)
	if err == nil || !strings.Contains(err.Error(), "frames 0 and") {
		t.Fatalf("error %v, want it to name the frames", err)
	}
}

type testError string

func (e testError) Error() string { return string(e) }

const errTest = testError("model failed")
