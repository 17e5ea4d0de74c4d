// Command models measures what running Depth-Pro inside the pipeline
// costs: the throughput of `boostgen run` (gen.Run: the synthetic source
// rendering and encoding images, workers decoding them, calling the model
// through the shared batcher, and doing geometry, templates and writing)
// divided by a raw Session.Run loop over pre-made tensors of the same
// images in batches of the same size. The model has the Depth-Pro contract
// and real cost: a 3-layer conv stack at the input size, whose output is
// turned into a depth map and a focal length. The machine may be shared, so
// rounds alternate and the median of the per-round ratios is reported with
// the ratio of the totals. Pipeline rounds include loading the model.
//
//	eval "$(scripts/setup/ort.sh)"
//	go run ./bench/models -size 512 -batch 4 -items 16 -rounds 5
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"image"
	_ "image/png"
	"log"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"time"

	benchrounds "github.com/boostgen/boostgen/bench/internal/rounds"
	"github.com/boostgen/boostgen/gen"
	"github.com/boostgen/boostgen/internal/models/imgprep"
	"github.com/boostgen/boostgen/internal/onnxtest"
	"github.com/boostgen/boostgen/internal/ort"
)

func main() {
	var (
		size    = flag.Int("size", 512, "image side and model input side")
		width   = flag.Int("width", 16, "channels of the hidden conv layers")
		batch   = flag.Int("batch", 4, "batch size B (models.batch.max_batch)")
		items   = flag.Int("items", 16, "synthetic single-view scenes per round (a multiple of -batch)")
		workers = flag.Int("workers", 0, "pipeline workers (0: 2*batch)")
		rounds  = flag.Int("rounds", 5, "alternating raw/pipeline rounds")
		threads = flag.Int("threads", 0, "ONNX Runtime intra-op threads (0: one per core)")
		lib     = flag.String("lib", os.Getenv(ort.LibraryEnv), "libonnxruntime path")
		profile = flag.String("cpuprofile", "", "write a CPU profile of the whole run here")
	)
	flag.Parse()
	if *profile != "" {
		f, err := os.Create(*profile)
		if err != nil {
			log.Fatal(err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			log.Fatal(err)
		}
		defer pprof.StopCPUProfile()
	}
	if *items%*batch != 0 {
		log.Fatalf("-items %d is not a multiple of -batch %d", *items, *batch)
	}
	if *workers == 0 {
		*workers = 2 * *batch
	}
	dir, err := os.MkdirTemp("", "modelsbench")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	model := filepath.Join(dir, "depthpro.onnx")
	if err := depthProCost(*size, *width).Write(model); err != nil {
		log.Fatal(err)
	}
	config := fmt.Sprintf(`seed: 1
source: {type: synthetic, synthetic: {width: %d, height: %d, sets: [{views: 1, scenes: %d}]}}
geometry: {depth: depthpro}
output: {compression: none}
models:
  ort_library: %q
  intra_op_threads: %d
  batch: {max_batch: %d, max_wait_ms: 50}
  depthpro: {path: %q, size: %d}
`, *size, *size, *items, *lib, *threads, *batch, model, *size)
	cfg, err := gen.ParseConfig([]byte(config))
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()

	// The raw loop gets the very images the source renders, already
	// preprocessed and batched.
	src, err := gen.NewSource(cfg)
	if err != nil {
		log.Fatal(err)
	}
	n := int64(*size)
	var pixels []float32
	src.Tasks(ctx, func(t gen.Task) bool {
		it := t.Load(ctx)
		img, _, err := image.Decode(bytes.NewReader(it.Views[0].Image.Bytes))
		if err != nil {
			log.Fatal(err)
		}
		in, _ := imgprep.Input(img, *size, *size, imgprep.Stretch, imgprep.Symmetric, 0)
		pixels = append(pixels, in...)
		return true
	})
	per := int(3 * n * n)
	var batches []ort.Tensor
	for lo := 0; lo < *items; lo += *batch {
		batches = append(batches, ort.F32Tensor(pixels[lo*per:(lo+*batch)*per], int64(*batch), 3, n, n))
	}
	s, err := ort.Open(model, ort.Contract{
		Inputs:  []ort.Spec{{Name: "pixel_values", Ranks: []int{4}}},
		Outputs: []ort.Spec{{Name: "predicted_depth", Ranks: []int{3}}, {Name: "focallength_px", Ranks: []int{1}}},
	}, ort.Options{Library: *lib, IntraOpThreads: *threads})
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()

	raw := func() time.Duration {
		start := time.Now()
		for _, b := range batches {
			if _, err := s.Run(ctx, b); err != nil {
				log.Fatal(err)
			}
		}
		return time.Since(start)
	}
	round := 0
	run := func(cfg *gen.Config) (time.Duration, *gen.Summary) {
		round++
		start := time.Now()
		sum, err := gen.Run(ctx, cfg, gen.RunOptions{Out: filepath.Join(dir, fmt.Sprint("out", round)), Workers: *workers})
		if err != nil {
			log.Fatal(err)
		}
		return time.Since(start), sum
	}
	pipeline := func() time.Duration {
		el, sum := run(cfg)
		if sum.Items != *items || sum.RejectsByCode[gen.RejectModel] != 0 {
			log.Fatalf("pipeline: %d items, %d model failures; want %d items, none", sum.Items, sum.RejectsByCode[gen.RejectModel], *items)
		}
		return el
	}

	raw() // warm up: first runs allocate ONNX Runtime's arenas
	res := benchrounds.Alternate(*rounds, "raw", "pipeline", raw, pipeline)
	// For scale: the same run with the source's depth and no model.
	plain, err := gen.ParseConfig([]byte(strings.Replace(config, "depth: depthpro", "depth: source", 1)))
	if err != nil {
		log.Fatal(err)
	}
	noModel, _ := run(plain)
	total := float64(*items * *rounds)
	fmt.Printf("model: Depth-Pro contract, conv stack 3->%d->%d->3 (3x3) at %dx%d, B=%d, %d workers, %d items x %d rounds, ONNX Runtime %s\n",
		*width, *width, *size, *size, *batch, *workers, *items, *rounds, ort.Version())
	fmt.Printf("raw Run loop: %.2f items/s; boostgen run: %.2f items/s (totals)\n", total/res.Base.Seconds(), total/res.Other.Seconds())
	fmt.Printf("the same run without the model (source depth): %.2f items/s\n", float64(*items)/noModel.Seconds())
	fmt.Printf("ratio pipeline/raw throughput: %.3f median of rounds, %.3f from totals (goal >= 0.9)\n", res.Median(), res.Total())
}

// depthProCost has the Depth-Pro contract and the cost of a conv stack:
// pixel_values [B,3,s,s] -> conv3x3(3->w) -> relu -> conv3x3(w->w) -> relu
// -> conv3x3(w->3) = y; predicted_depth = 2 + sigmoid(mean_c y) meters,
// focallength_px = s + 0*mean(y), with fixed pseudo-random weights.
func depthProCost(s, w int) *onnxtest.Graph {
	g := onnxtest.New().
		Input("pixel_values", onnxtest.Float, "B", 3, s, s).
		Output("predicted_depth", onnxtest.Float, "B", s, s).
		Output("focallength_px", onnxtest.Float, "B")
	y := g.ConvStack("pixel_values", w)
	m := g.Op("ReduceMean", []string{y}, onnxtest.Ints("axes", 1), onnxtest.Int("keepdims", 0))
	g.Node("Add", []string{g.Op("Sigmoid", []string{m}), g.Scalar(2)}, []string{"predicted_depth"})
	all := g.Op("ReduceMean", []string{m}, onnxtest.Ints("axes", 1, 2), onnxtest.Int("keepdims", 0))
	g.Node("Add", []string{g.Op("Mul", []string{all, g.Scalar(0)}), g.Scalar(float32(s))}, []string{"focallength_px"})
	return g
}
