package gen

import (
	"context"
	"fmt"
	"strings"

	"github.com/boostgen/boostgen/gen/llmstage"
	"github.com/boostgen/boostgen/gen/scene"
	"github.com/boostgen/boostgen/internal/llm"
	"github.com/boostgen/boostgen/internal/version"
	"github.com/boostgen/boostgen/templates"
)

// LevelMultiView is the level of the turns of a multi-view VQA record.
const LevelMultiView = "multiview"

// VQAMeta says how a multi-view VQA record was made.
type VQAMeta struct {
	Model string `json:"model"`
	// Pair names the two anchor views the questions were written for.
	Pair [2]string `json:"pair"`
	// PairBy says how the pair was chosen: "path_ends" (the ends of a
	// scan's views), or a mined pair's method ("lpips", "gap", "lpips-pose",
	// "lpips-gap").
	PairBy string `json:"pair_by"`
	// Checks, on 4- and 8-view records, are the verdicts for every
	// in-between view that was checked, kept or not.
	Checks []ViewCheck `json:"checks,omitempty"`
}

// ViewCheck is GPT's verdict on one in-between view: whether each QA pair
// still holds with it, and whether the view was kept (more than half hold).
type ViewCheck struct {
	View     string             `json:"view"`
	Kept     bool               `json:"kept"`
	Verdicts []llmstage.Verdict `json:"verdicts,omitempty"`
	// Error is why there is no verdict (the answer failed twice).
	Error string `json:"error,omitempty"`
}

// viewPair is two views of an item to ask multi-view VQA about, and the
// views between them (in path order) that may expand it to 4 and 8 views.
type viewPair struct {
	First, Second int
	Between       []int
	By            string
}

// viewPairs picks the view pairs of an item for multi-view VQA: the two
// ends of its camera path. Synthetic and ScanNet scan views come in path
// order, so the views between the ends are the interpolated frames the view
// check needs. A mined pair (video or scannet with filters.lpips, Equation
// 2 of the paper) is its two frames, with the frames recorded between them
// (Item.Between) as the in-between views; vqaItem lays them out that way.
func viewPairs(it *scene.Item) []viewPair {
	n := len(it.Views)
	if n < 2 {
		return nil
	}
	pr := viewPair{First: 0, Second: n - 1, By: "path_ends"}
	if it.Filters != nil && it.Filters.Pair != nil {
		pr.By = it.Filters.Pair.Method
	}
	for v := 1; v < n-1; v++ {
		pr.Between = append(pr.Between, v)
	}
	return []viewPair{pr}
}

// vqaItem is the item as the VQA stages see it: a mined pair's in-between
// frames placed between its two views, in path order. Other items are
// returned as they are.
func vqaItem(it *scene.Item) *scene.Item {
	if len(it.Between) == 0 || len(it.Views) != 2 {
		return it
	}
	cp := *it
	cp.Views = make([]scene.View, 0, 2+len(it.Between))
	cp.Views = append(append(append(cp.Views, it.Views[0]), it.Between...), it.Views[1])
	cp.Between = nil
	return &cp
}

// multiView asks the configured VQA kinds about one pair, then checks each
// in-between view against the answers and builds the 4- and 8-view samples
// the verified views allow. It returns the records and rejects in the order
// 2, 4, 8 views; the error is set only when the run must stop.
func (s *llmStage) multiView(ctx context.Context, it *scene.Item, pairNo int, pr viewPair) ([]outcome, error) {
	anchors := llmImages(it, []int{pr.First, pr.Second})
	id := func(views int) string { return fmt.Sprintf("%s-vqa%d-%dv", it.ID, pairNo, views) }
	rej := func(views int, code, reason string) outcome {
		return outcome{reject: &Reject{Item: id(views), Index: it.Index, Code: code, Reason: reason}}
	}
	qas, reason, fatal := s.askPair(ctx, anchors[0], anchors[1])
	if fatal != nil {
		return nil, fatal
	}
	if reason != "" {
		return []outcome{rej(2, RejectLLMVQA, reason)}, nil
	}
	meta := VQAMeta{Model: s.model, Pair: [2]string{it.Views[pr.First].Name, it.Views[pr.Second].Name}, PairBy: pr.By}
	outs := []outcome{s.vqaRecord(it, id(2), []int{pr.First, pr.Second}, qas, meta)}

	var sizes []int
	for _, n := range []int{4, 8} {
		if s.interpolate && n-2 <= len(pr.Between) {
			sizes = append(sizes, n)
		}
	}
	if len(sizes) == 0 {
		return outs, nil
	}
	var kept []int
	for _, v := range pr.Between {
		c := ViewCheck{View: it.Views[v].Name}
		verdicts, err := s.gen.CheckView(ctx, anchors, llmImages(it, []int{v})[0], qas)
		if err != nil {
			reason, fatal := s.failure(err)
			if fatal != nil {
				return nil, fatal
			}
			c.Error = reason
		} else {
			c.Verdicts, c.Kept = verdicts, llmstage.Verified(verdicts)
		}
		if c.Kept {
			kept = append(kept, v)
		}
		meta.Checks = append(meta.Checks, c)
	}
	sets := llmstage.ExpandViews(pr.First, pr.Second, kept)
	for _, n := range sizes {
		set, ok := sets[n]
		if !ok {
			outs = append(outs, rej(n, RejectLLMViews, fmt.Sprintf(
				"%d of %d in-between views verified (more than half of the %d QA pairs still hold); %d views need %d (verdicts in the %s record)",
				len(kept), len(pr.Between), len(qas), n, n-2, id(2))))
			continue
		}
		outs = append(outs, s.vqaRecord(it, id(n), set, qas, meta))
	}
	return outs, nil
}

// askPair asks a pair's VQA kinds (from the cache when a batch filled it;
// an answer that failed validation is retried) and returns the QA pairs, or
// the reason the pair is rejected. fatal is set only when the run must stop.
func (s *llmStage) askPair(ctx context.Context, first, second llm.Image) (qas []llmstage.QA, reason string, fatal error) {
	for _, k := range s.kinds {
		qa, err := s.gen.MultiViewVQA(ctx, first, second, k)
		if err != nil {
			reason, fatal := s.failure(err)
			return nil, reason, fatal
		}
		qas = append(qas, qa)
	}
	return qas, "", nil
}

// vqaRecord is a multi-image LLaVA conversation: one <image> per view in
// the first human turn, then the QA pairs as turns.
func (s *llmStage) vqaRecord(it *scene.Item, id string, views []int, qas []llmstage.QA, meta VQAMeta) outcome {
	var turns []templates.Turn
	for k, qa := range qas {
		t := templates.Turn{Index: k + 1, Level: LevelMultiView, Kind: string(qa.Kind), Question: qa.Question, Answer: qa.Answer}
		if qa.Kind == llmstage.MultiChoice {
			var q strings.Builder
			q.WriteString(qa.Question)
			for c, cand := range qa.Candidates {
				fmt.Fprintf(&q, "\n%c. %s", 'A'+c, cand)
			}
			t.Question = q.String()
			t.Answer = fmt.Sprintf("%c. %s", 'A'+qa.Correct, qa.Answer)
			t.Extra = map[string]any{"candidates": qa.Candidates, "correct": qa.Correct}
		}
		turns = append(turns, t)
	}
	paths := make([]string, len(views))
	names := make([]string, len(views))
	var imgs []imageBlob
	for n, v := range views {
		img := it.Views[v].Image
		paths[n], names[n] = imageKey(img), it.Views[v].Name
		imgs = append(imgs, imageBlob{key: paths[n], data: img.Bytes})
	}
	if len(views) < 4 {
		meta.Checks = nil
	}
	rec := &Record{
		ID:            id,
		Image:         paths,
		Conversations: conversation(turns, len(views)),
		Meta: Meta{
			SchemaVersion: RecordSchemaVersion,
			Generator:     "boostgen " + version.Version,
			Seed:          s.seed,
			ConfigSHA256:  s.configHash,
			Kind:          KindVQA,
			Task:          TaskMultiVQA,
			Source:        Provenance{Kind: it.Source, Item: it.ID, Index: it.Index, Views: names},
			Turns:         turns,
			VQA:           &meta,
		},
	}
	return outcome{record: rec, images: imgs}
}
