package templates

import (
	"math"
	"sort"
)

// Named is an object as the namer sees it: its label and a size to tell
// same-label objects apart.
type Named struct {
	ID     int
	Label  string
	Volume float64
}

// SizeRatio is how much larger (by volume) an object must be than every
// other object with its label to be called "large" (and the reverse for
// "small"): estimated volumes are rough, so only a clear difference names.
const SizeRatio = 2.0

// Names gives every object a referring expression that picks it out among
// objs, or leaves it out when none can: a label shared by several objects
// gets "large"/"small" when one is clearly the largest/smallest, and the
// rest of that label are not referable. Position words are never used: they
// would give away the answers to left/behind questions. A NaN volume means
// unmeasured. sized reports which
// names carry a size word, so that size questions avoid them.
func Names(objs []Named) (names map[int]string, sized map[int]bool) {
	names, sized = map[int]string{}, map[int]bool{}
	byLabel := map[string][]Named{}
	for _, o := range objs {
		byLabel[o.Label] = append(byLabel[o.Label], o)
	}
	for label, group := range byLabel {
		if label == "" {
			continue
		}
		if len(group) == 1 {
			names[group[0].ID] = label
			continue
		}
		if anyNaN(group) {
			continue // an unmeasured twin could be the larger one
		}
		sort.Slice(group, func(i, j int) bool { return group[i].Volume > group[j].Volume })
		if group[0].Volume >= SizeRatio*group[1].Volume {
			names[group[0].ID] = "large " + label
			sized[group[0].ID] = true
		}
		n := len(group)
		if group[n-1].Volume*SizeRatio <= group[n-2].Volume {
			names[group[n-1].ID] = "small " + label
			sized[group[n-1].ID] = true
		}
	}
	return names, sized
}

func anyNaN(g []Named) bool {
	for _, o := range g {
		if math.IsNaN(o.Volume) {
			return true
		}
	}
	return false
}
