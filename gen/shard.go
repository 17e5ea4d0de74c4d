package gen

import (
	"fmt"
	"strconv"
	"strings"
)

// Shard says which parts one process of a sharded run writes: part p
// belongs to shard p mod Count. Partitioning parts rather than items keeps
// every part file the work of exactly one process, so N processes on N
// machines can share one output prefix without coordination.
type Shard struct {
	Index int // 0 ≤ Index < Count
	Count int // 1 means the whole run
}

// WholeRun is the shard of a single-process run.
var WholeRun = Shard{Index: 0, Count: 1}

// ParseShard reads "I/N" as given to --shard.
func ParseShard(s string) (Shard, error) {
	a, b, ok := strings.Cut(s, "/")
	i, err1 := strconv.Atoi(a)
	n, err2 := strconv.Atoi(b)
	if !ok || err1 != nil || err2 != nil {
		return Shard{}, fmt.Errorf("--shard %q: want I/N, such as 0/3", s)
	}
	sh := Shard{Index: i, Count: n}
	return sh, sh.check()
}

func (s Shard) check() error {
	if s.Count < 1 || s.Index < 0 || s.Index >= s.Count {
		return fmt.Errorf("--shard %d/%d: want 0 ≤ I < N", s.Index, s.Count)
	}
	return nil
}

func (s Shard) String() string { return fmt.Sprintf("%d/%d", s.Index, s.Count) }

// Parts lists this shard's parts out of total.
func (s Shard) Parts(total int) []int {
	var out []int
	for p := s.Index; p < total; p += s.Count {
		out = append(out, p)
	}
	return out
}
