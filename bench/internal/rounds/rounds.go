// Package rounds times two ways of doing the same work in alternating
// rounds, so that drifting load on a shared machine hits both alike.
package rounds

import (
	"fmt"
	"slices"
	"time"
)

// Result sums each side's time and keeps the per-round throughput ratios
// (base time ÷ other time: above 1 means the other side is faster).
type Result struct {
	Base, Other time.Duration
	Ratios      []float64 // sorted
}

// Median is the median of the per-round ratios.
func (r Result) Median() float64 { return r.Ratios[len(r.Ratios)/2] }

// Total is the ratio of the summed times.
func (r Result) Total() float64 { return r.Base.Seconds() / r.Other.Seconds() }

// Alternate runs n rounds of base and other, alternating which goes first,
// and prints one line per round naming them.
func Alternate(n int, baseName, otherName string, base, other func() time.Duration) Result {
	var res Result
	for r := range n {
		var bt, ot time.Duration
		if r%2 == 0 {
			bt, ot = base(), other()
		} else {
			ot, bt = other(), base()
		}
		res.Base += bt
		res.Other += ot
		ratio := bt.Seconds() / ot.Seconds()
		res.Ratios = append(res.Ratios, ratio)
		fmt.Printf("round %d: %s %v, %s %v, ratio %.3f\n", r+1, baseName, bt.Round(time.Millisecond), otherName, ot.Round(time.Millisecond), ratio)
	}
	slices.Sort(res.Ratios)
	return res
}
