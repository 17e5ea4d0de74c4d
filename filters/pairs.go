package filters

import (
	"fmt"
	"math"
	"sort"

	"github.com/boostgen/boostgen/geometry"
)

// MineOptions bound LPIPS pair mining (paper, Equation 2).
type MineOptions struct {
	Lo, Hi   float64 // keep pairs with Lo ≤ LPIPS ≤ Hi (0.35, 0.65)
	PerFrame int     // most pairs one frame may be part of
	PerClip  int     // most pairs of one clip; 0 = no limit
	// Probes is the most distance evaluations one search (one frame, one
	// direction) may spend.
	Probes int
}

// DefaultMineOptions are the paper's band with small caps.
var DefaultMineOptions = MineOptions{Lo: 0.35, Hi: 0.65, PerFrame: 2, PerClip: 0, Probes: 6}

// Pair is a mined pair of frames, A < B, with its distance.
type Pair struct {
	A, B  int
	LPIPS float64
}

// MineStats says what mining cost.
type MineStats struct {
	Frames      int `json:"frames"`
	Evaluations int `json:"lpips_evaluations"`
	Pairs       int `json:"pairs"`
}

// Distance is the LPIPS distance between frames i and j of a clip.
type Distance func(i, j int) (float64, error)

// Candidates lists, for frame i, its possible partners in one or more
// directions, each ordered from least to most camera motion.
type Candidates func(i int) [][]int

// Temporal orders partners by frame gap, forward then backward: in a
// video, LPIPS grows roughly with the gap.
func Temporal(n int) Candidates {
	return func(i int) [][]int {
		fwd := make([]int, 0, n-1-i)
		for j := i + 1; j < n; j++ {
			fwd = append(fwd, j)
		}
		back := make([]int, 0, i)
		for j := i - 1; j >= 0; j-- {
			back = append(back, j)
		}
		return [][]int{fwd, back}
	}
}

// metersPerRadian weighs rotation against translation in the pose distance:
// turning by a radian changes the view about as much as walking a meter
// does in a room-sized scene.
const metersPerRadian = 1.0

// ByPose orders partners by pose distance (translation plus weighted
// rotation angle), for scans whose frames have camera poses: frames far
// apart in time may see the same thing again.
func ByPose(poses []geometry.Pose) Candidates {
	return func(i int) [][]int {
		type c struct {
			j int
			d float64
		}
		cs := make([]c, 0, len(poses)-1)
		for j := range poses {
			if j != i {
				cs = append(cs, c{j, PoseDistance(poses[i], poses[j])})
			}
		}
		sort.SliceStable(cs, func(a, b int) bool { return cs[a].d < cs[b].d })
		out := make([]int, len(cs))
		for k, x := range cs {
			out[k] = x.j
		}
		return [][]int{out}
	}
}

// PoseDistance is the translation distance plus metersPerRadian times the
// rotation angle between two camera poses.
func PoseDistance(a, b geometry.Pose) float64 {
	t := a.T.Sub(b.T).Norm()
	// trace(Ra^T Rb) = 1 + 2 cos(angle)
	var tr float64
	for r := 0; r < 3; r++ {
		for c := 0; c < 3; c++ {
			tr += a.R[r][c] * b.R[r][c]
		}
	}
	ang := math.Acos(math.Max(-1, math.Min(1, (tr-1)/2)))
	return t + metersPerRadian*ang
}

// Mine finds pairs of the n frames of one clip whose distance lies in the
// band, without measuring all n² pairs. For each frame it searches along
// each candidate direction for the rank where the distance enters the band:
// it starts at the rank that worked for the previous frame (neighbouring
// frames move alike), gallops outwards while the distance is below the band
// and bisects once it has been above it. Every evaluation is remembered,
// pairs are deduplicated, and frames already in PerFrame pairs are not
// searched again. The result is a function of the distances alone.
func Mine(n int, cands Candidates, dist Distance, o MineOptions) ([]Pair, MineStats, error) {
	st := MineStats{Frames: n}
	if o.Lo > o.Hi || o.Lo < 0 {
		return nil, st, fmt.Errorf("lpips band [%v, %v] is empty", o.Lo, o.Hi)
	}
	perFrame, probes := max(o.PerFrame, 1), max(o.Probes, 1)
	memo := map[[2]int]float64{}
	measure := func(i, j int) (float64, error) {
		k := [2]int{min(i, j), max(i, j)}
		if d, ok := memo[k]; ok {
			return d, nil
		}
		d, err := dist(k[0], k[1])
		if err != nil {
			return 0, fmt.Errorf("frames %d and %d: %w", k[0], k[1], err)
		}
		st.Evaluations++
		memo[k] = d
		return d, nil
	}
	in := func(d float64) bool { return d >= o.Lo && d <= o.Hi }
	count := make([]int, n)
	seen := map[[2]int]bool{}
	var pairs []Pair
	warm := map[int]int{} // direction → rank that last hit the band
	for i := 0; i < n; i++ {
		if o.PerClip > 0 && len(pairs) >= o.PerClip {
			break
		}
		for dir, list := range cands(i) {
			if count[i] >= 1 || len(list) == 0 {
				break // one search per frame that finds something; partners add the rest
			}
			r, err := search(i, list, warm[dir], probes, measure, o.Lo, o.Hi)
			if err != nil {
				return nil, st, err
			}
			if r < 0 {
				continue
			}
			warm[dir] = r
			// The partner may be full: its in-band neighbours are the next best.
			for _, rr := range []int{r, r + 1, r - 1, r + 2, r - 2} {
				if rr < 0 || rr >= len(list) {
					continue
				}
				j := list[rr]
				k := [2]int{min(i, j), max(i, j)}
				if seen[k] || count[j] >= perFrame {
					continue
				}
				d, err := measure(i, j)
				if err != nil {
					return nil, st, err
				}
				if !in(d) {
					continue
				}
				seen[k] = true
				count[i]++
				count[j]++
				pairs = append(pairs, Pair{A: k[0], B: k[1], LPIPS: d})
				break
			}
		}
	}
	sort.Slice(pairs, func(a, b int) bool {
		if pairs[a].A != pairs[b].A {
			return pairs[a].A < pairs[b].A
		}
		return pairs[a].B < pairs[b].B
	})
	st.Pairs = len(pairs)
	return pairs, st, nil
}

// search returns a rank in list whose distance to frame i lies in
// [lo, hi], or -1, spending at most probes fresh evaluations.
func search(i int, list []int, start, probes int, measure func(i, j int) (float64, error), lo, hi float64) (int, error) {
	m := len(list)
	below, above := -1, m // ranks known below / above the band
	r := min(max(start, 0), m-1)
	step := max(1, r/4)
	for p := 0; p < probes; p++ {
		d, err := measure(i, list[r])
		if err != nil {
			return -1, err
		}
		switch {
		case d >= lo && d <= hi:
			return r, nil
		case d < lo:
			below = r
			if above == m {
				r += step
				step *= 2
			} else {
				r = (below + above) / 2
			}
			r = min(r, m-1)
		default:
			above = r
			r = (below + above) / 2
		}
		if r <= below || r >= above {
			return -1, nil
		}
	}
	return -1, nil
}
