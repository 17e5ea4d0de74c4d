package gen

import (
	"context"
	"fmt"

	"github.com/boostgen/boostgen/internal/llm"
)

// batchChunkBytes bounds the image bytes one prefetch chunk holds in
// memory: the requests of a chunk, images inline, are what RunBatch holds.
const batchChunkBytes = 64 << 20

// prefetchPair is what the view-check round of a chunk needs of one pair.
type prefetchPair struct {
	anchors []llm.Image
	between []llm.Image
}

// prefetch answers the stages' requests through the Batch API at half
// price before the per-item pass, which then finds them in the cache (only
// validation retries are sent one by one). It reads the items want accepts
// (by their position in the source) in chunks of about batchChunkBytes of
// images; per chunk, one batch job holds the caption and VQA requests and,
// once those are answered, a second one the view checks, which need the
// answers. Job names derive from the config hash and the chunk's first
// item, so a rerun of the same items after a stop polls the batches already
// submitted instead of paying again, and shards never share a job. Lines
// the batch failed are left to the per-item pass.
func (s *llmStage) prefetch(ctx context.Context, src Source, proc *processor, want func(seq int) bool) error {
	if s == nil || !s.batch {
		return nil
	}
	var (
		reqs  []llm.Request
		pairs []prefetchPair
		size  int
		first = -1 // source position of the chunk's first item
	)
	flush := func() error {
		if len(reqs) == 0 {
			return nil
		}
		// Named by where the chunk starts, so shard processes (disjoint
		// items) never share a job, and a rerun of the same items finds its.
		job := fmt.Sprintf("run-%s-%08d", s.configHash[:12], first)
		if err := s.runBatch(ctx, job+"-ask", reqs); err != nil {
			return err
		}
		var checks []llm.Request
		for _, p := range pairs {
			qas, rejected, err := s.askPair(ctx, p.anchors[0], p.anchors[1])
			if err != nil {
				return err
			}
			if rejected != "" {
				continue // no view to check
			}
			for _, c := range p.between {
				req, err := s.gen.CheckViewRequest(p.anchors, c, qas)
				if err != nil {
					return err
				}
				checks = append(checks, req)
			}
		}
		reqs, pairs, size, first = nil, nil, 0, -1
		return s.runBatch(ctx, job+"-check", checks)
	}

	seq := 0
	var failed error
	err := src.Tasks(ctx, func(t Task) bool {
		n := seq
		seq++
		if !want(n) {
			return true
		}
		it := t.Load(ctx)
		if it.ID == "" {
			it.ID = t.ID
		}
		if it.Err != nil || len(it.Views) == 0 {
			return true
		}
		if first < 0 {
			first = n
		}
		if s.captions {
			if o := proc.process(ctx, it); o.record != nil && missingCaptions(o.record) {
				imgs := llmImages(it, allViews(it))
				req, err := s.gen.CaptionRequest(imgs)
				if err != nil {
					failed = err
					return false
				}
				reqs = append(reqs, req)
				size += imageBytes(imgs)
			}
		}
		vq := vqaItem(it)
		for _, pr := range viewPairs(vq) {
			if len(s.kinds) == 0 {
				break
			}
			anchors := llmImages(vq, []int{pr.First, pr.Second})
			for _, k := range s.kinds {
				req, err := s.gen.MultiViewVQARequest(anchors[0], anchors[1], k)
				if err != nil {
					failed = err
					return false
				}
				reqs = append(reqs, req)
			}
			size += imageBytes(anchors)
			if s.interpolate && len(pr.Between) >= 2 {
				p := prefetchPair{anchors: anchors, between: llmImages(vq, pr.Between)}
				pairs = append(pairs, p)
				size += imageBytes(p.between)
			}
		}
		if size >= batchChunkBytes {
			if failed = flush(); failed != nil {
				return false
			}
		}
		return true
	})
	if failed != nil {
		return failed
	}
	if err != nil {
		return fmt.Errorf("source: %w", err)
	}
	return flush()
}

func (s *llmStage) runBatch(ctx context.Context, job string, reqs []llm.Request) error {
	if len(reqs) == 0 {
		return nil
	}
	results, err := s.client.RunBatch(ctx, job, reqs)
	if err != nil {
		return err
	}
	failed := 0
	for _, r := range results {
		if r.Err != nil {
			failed++
		}
	}
	s.log.Info("llm batch", "job", job, "requests", len(reqs), "without_answer", failed)
	return nil
}

func imageBytes(imgs []llm.Image) int {
	n := 0
	for _, im := range imgs {
		n += len(im.Data)
	}
	return n
}
