// Command ort measures what the dynamic batcher costs: the throughput of
// single items submitted by concurrent callers through ort.Batcher, divided
// by a raw Session.Run loop over pre-made tensors of the same batches, on a
// CPU model of real cost (a 3-layer conv stack on 512x512 images). The goal
// is a ratio of at least 0.9. The machine may be shared, so short rounds
// alternate and the median of the per-round ratios is reported with the
// ratio of the totals.
//
//	eval "$(scripts/setup/ort.sh)"
//	go run ./bench/ort -batch 4 -items 8 -rounds 21
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"time"

	benchrounds "github.com/boostgen/boostgen/bench/internal/rounds"
	"github.com/boostgen/boostgen/internal/onnxtest"
	"github.com/boostgen/boostgen/internal/ort"
)

func main() {
	var (
		batch   = flag.Int("batch", 4, "batch size B")
		size    = flag.Int("size", 512, "image side")
		width   = flag.Int("width", 16, "channels of the hidden conv layers")
		items   = flag.Int("items", 8, "items per measurement (a multiple of -batch)")
		rounds  = flag.Int("rounds", 21, "alternating raw/batcher rounds; the median of the per-round ratios is reported")
		threads = flag.Int("threads", 0, "ONNX Runtime intra-op threads (0: one per core)")
		lib     = flag.String("lib", "", "libonnxruntime path (default $BOOSTGEN_ORT_LIB)")
	)
	flag.Parse()
	if *items%*batch != 0 {
		log.Fatalf("-items %d is not a multiple of -batch %d", *items, *batch)
	}
	dir, err := os.MkdirTemp("", "ortbench")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "convstack.onnx")
	if err := convStack(*size, *width).Write(path); err != nil {
		log.Fatal(err)
	}
	s, err := ort.Open(path, ort.Contract{
		Inputs:  []ort.Spec{{Name: "x", Ranks: []int{4}}},
		Outputs: []ort.Spec{{Name: "y", Ranks: []int{4}}},
	}, ort.Options{Library: *lib, IntraOpThreads: *threads})
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()

	n := int64(*size)
	per := int(3 * n * n)
	rng := rand.New(rand.NewPCG(1, 2))
	single := make([]ort.Tensor, *items)
	for i := range single {
		d := make([]float32, per)
		for j := range d {
			d[j] = rng.Float32()
		}
		single[i] = ort.F32Tensor(d, 1, 3, n, n)
	}
	// The raw loop gets the same data, already batched.
	var batches []ort.Tensor
	for lo := 0; lo < *items; lo += *batch {
		d := make([]float32, 0, per**batch)
		for _, t := range single[lo : lo+*batch] {
			d = append(d, t.F32...)
		}
		batches = append(batches, ort.F32Tensor(d, int64(*batch), 3, n, n))
	}
	ctx := context.Background()

	raw := func() time.Duration {
		start := time.Now()
		for _, b := range batches {
			if _, err := s.Run(ctx, b); err != nil {
				log.Fatal(err)
			}
		}
		return time.Since(start)
	}
	batched := func() time.Duration {
		bt := ort.NewBatcher(s, ort.BatchOptions{MaxBatch: *batch, MaxWait: 50 * time.Millisecond})
		defer bt.Close()
		// Enough callers to fill one batch while another runs.
		callers := 2 * *batch
		next := make(chan int)
		var wg sync.WaitGroup
		start := time.Now()
		for range callers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range next {
					out, err := bt.Run(ctx, single[i])
					if err != nil {
						log.Fatal(err)
					}
					if out[0].Shape[0] != 1 {
						log.Fatalf("item %d: output shape %v", i, out[0].Shape)
					}
				}
			}()
		}
		for i := range single {
			next <- i
		}
		close(next)
		wg.Wait()
		return time.Since(start)
	}

	raw() // warm up: first runs allocate ONNX Runtime's arenas
	res := benchrounds.Alternate(*rounds, "raw", "batcher", raw, batched)
	total := float64(*items * *rounds)
	fmt.Printf("model: conv stack 3->%d->%d->3 (3x3) at %dx%d, B=%d, %d items x %d rounds, ONNX Runtime %s\n", *width, *width, *size, *size, *batch, *items, *rounds, ort.Version())
	fmt.Printf("raw Run loop: %.2f items/s; batcher: %.2f items/s (totals)\n", total/res.Base.Seconds(), total/res.Other.Seconds())
	fmt.Printf("ratio batcher/raw throughput: %.3f median of rounds, %.3f from totals (goal >= 0.9)\n", res.Median(), res.Total())
}

// convStack is x [B,3,s,s] -> onnxtest's conv stack (3->w->w->3) -> y.
func convStack(s, w int) *onnxtest.Graph {
	g := onnxtest.New().
		Input("x", onnxtest.Float, "batch", 3, s, s).
		Output("y", onnxtest.Float, "batch", 3, s, s)
	g.Identity(g.ConvStack("x", w), "y")
	return g
}
