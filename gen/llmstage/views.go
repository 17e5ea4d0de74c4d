package llmstage

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/boostgen/boostgen/internal/llm"
	llmschema "github.com/boostgen/boostgen/schemas/llm"
)

// Verdict says whether one QA pair still holds for a candidate view.
type Verdict struct {
	QA     int    `json:"qa"` // 0-based index into the pairs checked
	Holds  bool   `json:"holds"`
	Reason string `json:"reason"`
}

// CheckViewRequest builds the request that shows the anchors, then the
// candidate view, and lists the pairs to check.
func (g *Generator) CheckViewRequest(anchors []llm.Image, candidate llm.Image, pairs []QA) (llm.Request, error) {
	if len(anchors) == 0 {
		return llm.Request{}, fmt.Errorf("%s: no anchor views", StageViewCheck)
	}
	if len(pairs) == 0 {
		return llm.Request{}, fmt.Errorf("%s: no QA pairs to check", StageViewCheck)
	}
	var list strings.Builder
	for i, qa := range pairs {
		if i > 0 {
			list.WriteString("\n")
		}
		fmt.Fprintf(&list, "%d. Q: %s\n   A: %s", i+1, oneLine(qa.Question), oneLine(qa.Answer))
	}
	text := strings.NewReplacer("{anchors}", strconv.Itoa(len(anchors)), "{pairs}", list.String()).Replace(g.prompts.ViewCheck)
	images := append(append([]llm.Image(nil), anchors...), candidate)
	return llm.Request{
		Stage: StageViewCheck,
		Messages: []llm.Message{
			{Role: "system", Text: g.prompts.ViewCheckSystem},
			{Role: "user", Text: text, Images: images},
		},
		Schema: g.schemaFor(llmschema.ViewCheck),
	}, nil
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// CheckView asks, for each pair, whether it still holds when candidate (an
// interpolated frame between the anchors) joins the anchor views. The
// verdicts come back in the order of pairs.
func (g *Generator) CheckView(ctx context.Context, anchors []llm.Image, candidate llm.Image, pairs []QA) ([]Verdict, error) {
	req, err := g.CheckViewRequest(anchors, candidate, pairs)
	if err != nil {
		return nil, err
	}
	var a struct {
		Verdicts []struct {
			QAIndex int    `json:"qa_index"`
			Holds   bool   `json:"holds"`
			Reason  string `json:"reason"`
		} `json:"verdicts"`
	}
	out := make([]Verdict, len(pairs))
	item := "candidate " + candidate.Name + " for " + names(anchors)
	err = g.ask(ctx, req, item, llmschema.ViewCheck, &a, func() error {
		if len(a.Verdicts) != len(pairs) {
			return fmt.Errorf("there are %d verdicts for %d pairs; give exactly one per pair", len(a.Verdicts), len(pairs))
		}
		seen := make([]bool, len(pairs))
		for _, v := range a.Verdicts {
			if v.QAIndex < 1 || v.QAIndex > len(pairs) {
				return fmt.Errorf("qa_index %d is not a pair number (1 to %d)", v.QAIndex, len(pairs))
			}
			if seen[v.QAIndex-1] {
				return fmt.Errorf("pair %d has more than one verdict", v.QAIndex)
			}
			seen[v.QAIndex-1] = true
			out[v.QAIndex-1] = Verdict{QA: v.QAIndex - 1, Holds: v.Holds, Reason: strings.TrimSpace(v.Reason)}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Verified reports whether more than half of the pairs hold for a view:
// the rule by which Appendix C admits an interpolated view.
func Verified(verdicts []Verdict) bool {
	held := 0
	for _, v := range verdicts {
		if v.Holds {
			held++
		}
	}
	return len(verdicts) > 0 && 2*held > len(verdicts)
}

// KeepViews returns the candidates whose verdicts are Verified, in order.
// verdicts[i] belongs to candidates[i].
func KeepViews[T any](candidates []T, verdicts [][]Verdict) ([]T, error) {
	if len(candidates) != len(verdicts) {
		return nil, fmt.Errorf("%s: %d candidates but %d verdict lists", StageViewCheck, len(candidates), len(verdicts))
	}
	var kept []T
	for i, c := range candidates {
		if Verified(verdicts[i]) {
			kept = append(kept, c)
		}
	}
	return kept, nil
}

// ExpandViews builds the larger view sets of Appendix C from two anchors
// and the kept interpolated views, which must be in their order between the
// anchors. For n = 4 and n = 8 it picks n-2 kept views spread evenly (the
// middle of n-2 equal runs) and returns first, those views, second; a size
// with too few kept views is absent from the map.
func ExpandViews[T any](first, second T, kept []T) map[int][]T {
	out := map[int][]T{}
	for _, n := range []int{4, 8} {
		k := n - 2
		if len(kept) < k {
			continue
		}
		set := []T{first}
		for j := range k {
			set = append(set, kept[(2*j+1)*len(kept)/(2*k)])
		}
		out[n] = append(set, second)
	}
	return out
}
