package ort_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/boostgen/boostgen/internal/onnxtest"
	"github.com/boostgen/boostgen/internal/ort"
)

// affineModel writes y = 2x + 1 with x, y of shape [batch, n].
func affineModel(t testing.TB) string {
	g := onnxtest.New().
		Input("x", onnxtest.Float, "batch", "n").
		Output("y", onnxtest.Float, "batch", "n")
	m := g.Op("Mul", []string{"x", g.Scalar(2)})
	g.Node("Add", []string{m, g.Scalar(1)}, []string{"y"})
	return g.WriteTemp(t, "affine.onnx")
}

var affine = ort.Contract{
	Inputs:  []ort.Spec{{Name: "x", Ranks: []int{2}}},
	Outputs: []ort.Spec{{Name: "y", Ranks: []int{2}}},
}

func openAffine(t testing.TB) *ort.Session {
	lib := onnxtest.Library(t)
	s, err := ort.Open(affineModel(t), affine, ort.Options{Library: lib, IntraOpThreads: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestRun(t *testing.T) {
	s := openAffine(t)
	out, err := s.Run(context.Background(), ort.F32Tensor([]float32{0, 1, 2, 3, -1, -2, 0.5, 10}, 2, 4))
	if err != nil {
		t.Fatal(err)
	}
	want := []float32{1, 3, 5, 7, -1, -3, 2, 21}
	if fmt.Sprint(out[0].Shape) != "[2 4]" || fmt.Sprint(out[0].F32) != fmt.Sprint(want) {
		t.Fatalf("got %v %v, want [2 4] %v", out[0].Shape, out[0].F32, want)
	}
}

func TestOpenErrors(t *testing.T) {
	lib := onnxtest.Library(t)
	dir := t.TempDir()
	good := affineModel(t)
	garbage := filepath.Join(dir, "garbage.onnx")
	os.WriteFile(garbage, []byte("this is not a protobuf model"), 0o644)
	tests := []struct {
		name     string
		path     string
		contract ort.Contract
		provider string
		want     []string // substrings of the error
	}{
		{"bad model file", garbage, affine, "", []string{garbage, "not a loadable ONNX model"}},
		{"missing model file", filepath.Join(dir, "nope.onnx"), affine, "", []string{"nope.onnx", "no such file"}},
		{"wrong input name", good, ort.Contract{Inputs: []ort.Spec{{Name: "pixel_values"}}, Outputs: affine.Outputs}, "",
			[]string{good, `no input "pixel_values"`, `"x" [?,?] float32`}},
		{"wrong output name", good, ort.Contract{Inputs: affine.Inputs, Outputs: []ort.Spec{{Name: "depth"}}}, "",
			[]string{good, `no output "depth"`, `"y"`}},
		{"wrong rank", good, ort.Contract{Inputs: []ort.Spec{{Name: "x", Ranks: []int{4}}}, Outputs: affine.Outputs}, "",
			[]string{good, `input "x" has rank 2 [?,?], want rank 4`}},
		{"wrong type", good, ort.Contract{Inputs: []ort.Spec{{Name: "x", Type: ort.Int64}}, Outputs: affine.Outputs}, "",
			[]string{good, `input "x" has element type`, "want int64"}},
		{"missing provider", good, affine, "cuda:0", []string{"cuda:0", "not available", good}},
		{"missing tensorrt", good, affine, "tensorrt:1", []string{"tensorrt:1", "not available"}},
		{"unknown provider", good, affine, "rocm:0", []string{`unknown execution provider "rocm:0"`}},
		{"bad device", good, affine, "cuda:x", []string{`bad device index`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := ort.Open(tc.path, tc.contract, ort.Options{Library: lib, Provider: tc.provider})
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestRunRejectsBadInput(t *testing.T) {
	s := openAffine(t)
	tests := []struct {
		name string
		in   ort.Tensor
		want string
	}{
		{"rank", ort.F32Tensor(make([]float32, 4), 4), `input "x" has shape [4], want rank 2`},
		{"size", ort.F32Tensor(make([]float32, 3), 1, 4), "needs 4 elements, have 3"},
		{"type", ort.I64Tensor(make([]int64, 4), 1, 4), `input "x" is int64, want float32`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.Run(context.Background(), tc.in)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want it to mention %q", err, tc.want)
			}
		})
	}
}

// TestLibraryErrors loads bad libraries in a child process, since a process
// holds one ONNX Runtime for good once loaded.
func TestLibraryErrors(t *testing.T) {
	if path, ok := os.LookupEnv("ORT_TEST_CHILD_LIB"); ok {
		err := ort.Init(path)
		fmt.Printf("ERR: %v\n", err)
		os.Exit(0)
	}
	dir := t.TempDir()
	notLib := filepath.Join(dir, "libonnxruntime.so.1")
	os.WriteFile(notLib, []byte("not an ELF file"), 0o644)
	tests := []struct {
		name, path string
		env        string // BOOSTGEN_ORT_LIB in the child
		want       []string
	}{
		{"missing file", filepath.Join(dir, "missing.so"), "", []string{"missing.so", "scripts/setup/ort.sh"}},
		{"not a library", notLib, "", []string{notLib, "needs ONNX Runtime >= 1.24"}},
		{"nothing configured", "", "", []string{"BOOSTGEN_ORT_LIB", "models.ort_library"}},
		{"from the environment", "", filepath.Join(dir, "env.so"), []string{"env.so"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^TestLibraryErrors$")
			cmd.Env = append(os.Environ(), "ORT_TEST_CHILD_LIB="+tc.path, "BOOSTGEN_ORT_LIB="+tc.env)
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("child: %v\n%s", err, out)
			}
			for _, w := range tc.want {
				if !strings.Contains(string(out), w) {
					t.Errorf("child said %q, want it to mention %q", out, w)
				}
			}
		})
	}
}

func TestBatcherKeepsCallersApart(t *testing.T) {
	s := openAffine(t)
	b := ort.NewBatcher(s, ort.BatchOptions{MaxBatch: 4, MaxWait: 20 * time.Millisecond})
	defer b.Close()
	const callers = 16
	const items = 25
	var wg sync.WaitGroup
	errs := make(chan error, callers)
	for c := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range items {
				x := float32(c*1000 + i)
				// Items of one and two rows mix, and so do items of
				// width 4 and 3, which cannot share a batch.
				rows := int64(1 + (c+i)%2)
				width := int64(3 + c%2)
				in := make([]float32, width*rows)
				for j := range in {
					in[j] = x + float32(j)/8
				}
				out, err := b.Run(context.Background(), ort.F32Tensor(in, rows, width))
				if err != nil {
					errs <- err
					return
				}
				if out[0].Shape[0] != rows || out[0].Shape[1] != width {
					errs <- fmt.Errorf("caller %d item %d: got shape %v, want [%d %d]", c, i, out[0].Shape, rows, width)
					return
				}
				for j, v := range out[0].F32 {
					if want := 2*in[j] + 1; v != want {
						errs <- fmt.Errorf("caller %d item %d: y[%d] = %v, want %v (someone else's row?)", c, i, j, v, want)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestBatcherContext(t *testing.T) {
	s := openAffine(t)
	b := ort.NewBatcher(s, ort.BatchOptions{MaxBatch: 4, MaxWait: time.Hour})
	defer b.Close()
	// With MaxWait an hour and nobody else, the item waits for company,
	// so only cancellation can end the call.
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := b.Run(ctx, ort.F32Tensor(make([]float32, 4), 1, 4))
		errc <- err
	}()
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled Run returned %v, want context.Canceled", err)
	}
	// A full batch runs at once, without waiting out MaxWait. (A fresh
	// batcher: the cancelled item above may or may not hold a slot in the
	// first one's forming batch.)
	full := ort.NewBatcher(s, ort.BatchOptions{MaxBatch: 4, MaxWait: time.Hour})
	defer full.Close()
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out, err := full.Run(context.Background(), ort.F32Tensor([]float32{float32(i), 0, 0, 0}, 1, 4))
			if err != nil || out[0].F32[0] != float32(2*i+1) {
				t.Errorf("item %d: %v %v", i, out, err)
			}
		}()
	}
	wg.Wait()
}

func TestBatcherClose(t *testing.T) {
	s := openAffine(t)
	b := ort.NewBatcher(s, ort.BatchOptions{MaxBatch: 4, MaxWait: time.Hour})
	errc := make(chan error, 1)
	go func() {
		_, err := b.Run(context.Background(), ort.F32Tensor(make([]float32, 4), 1, 4))
		errc <- err
	}()
	// Close fails the waiting item rather than leaving it blocked; the
	// item may also be refused before it joins a batch: both are ErrClosed.
	b.Close()
	if err := <-errc; !errors.Is(err, ort.ErrClosed) {
		t.Fatalf("Run during Close returned %v, want ErrClosed", err)
	}
	if _, err := b.Run(context.Background(), ort.F32Tensor(make([]float32, 4), 1, 4)); !errors.Is(err, ort.ErrClosed) {
		t.Fatalf("Run after Close returned %v, want ErrClosed", err)
	}
}

func TestRunCancelled(t *testing.T) {
	s := openAffine(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.Run(ctx, ort.F32Tensor(make([]float32, 4), 1, 4)); !errors.Is(err, context.Canceled) {
		t.Fatalf("Run with a cancelled context returned %v, want context.Canceled", err)
	}
}
