package gen

import (
	"context"
	"sync"

	"github.com/boostgen/boostgen/filters"
)

// minedOnce remembers what pair mining found per video or scene: a run
// lists a source twice (to count its items, then to process them), and
// mining is the expensive part of listing. A result cut short by a
// canceled context is not remembered.
type minedOnce[T any] struct {
	mu sync.Mutex
	m  map[string]T
}

func (o *minedOnce[T]) get(ctx context.Context, key string, mine func() T) T {
	o.mu.Lock()
	defer o.mu.Unlock()
	if v, ok := o.m[key]; ok {
		return v
	}
	v := mine()
	if ctx.Err() == nil {
		if o.m == nil {
			o.m = map[string]T{}
		}
		o.m[key] = v
	}
	return v
}

// maxBetween is how many in-between frames travel with a mined pair: the
// six an 8-view sample needs besides the pair's own two.
const maxBetween = 6

// betweenFrames picks up to maxBetween frames strictly between frames a and
// b (a < b), evenly spaced: all of them when the gap holds no more, else
// a + k(b-a)/7 for k = 1..6 (distinct, since b-a ≥ 8 there). It depends on
// a and b only, so a rerun or another worker count picks the same.
func betweenFrames(a, b int) []int {
	gap := b - a - 1
	if gap <= 0 {
		return nil
	}
	out := make([]int, 0, min(gap, maxBetween))
	if gap <= maxBetween {
		for f := a + 1; f < b; f++ {
			out = append(out, f)
		}
		return out
	}
	for k := 1; k <= maxBetween; k++ {
		out = append(out, a+k*(b-a)/(maxBetween+1))
	}
	return out
}

// PairViewsCount sorts mined pairs by the largest VQA sample their
// in-between frames allow (the LLM view check still decides which frames
// are kept).
type PairViewsCount struct {
	UpTo8 int `json:"up_to_8"` // 6 frames between the pair
	UpTo4 int `json:"up_to_4"` // 2 to 5 frames
	Only2 int `json:"only_2"`  // fewer than 2: the pair stays a 2-view sample
}

func (r *FilterReport) addPairViews(pairs []filters.Pair) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.PairViews == nil {
		r.PairViews = &PairViewsCount{}
	}
	for _, p := range pairs {
		switch n := len(betweenFrames(p.A, p.B)); {
		case n >= 6:
			r.PairViews.UpTo8++
		case n >= 2:
			r.PairViews.UpTo4++
		default:
			r.PairViews.Only2++
		}
	}
}
