// Package ort is the one ONNX Runtime layer that every boostgen model
// (Depth-Pro, VGGT, CLIP, LPIPS) goes through: it loads the shared library
// once per process, opens one session per model with the execution provider
// asked for, checks the model file against the names and ranks the caller's
// code was written for, and runs it, alone or through a dynamic Batcher.
//
// The library is found from an explicit path (config `models.ort_library`)
// or the BOOSTGEN_ORT_LIB environment variable; scripts/setup/ort.sh
// installs the CPU build from npm and prints that variable.
package ort

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"

	onnx "github.com/yalue/onnxruntime_go"
)

// LibraryEnv names the environment variable that points at
// libonnxruntime.so when no path is configured.
const LibraryEnv = "BOOSTGEN_ORT_LIB"

// MinVersion is the oldest ONNX Runtime the bindings work with (C API 24).
const MinVersion = "1.24"

var (
	libMu   sync.Mutex
	libPath string // set once the environment is up
)

// Init loads the ONNX Runtime shared library at path (or, when path is
// empty, at $BOOSTGEN_ORT_LIB) and starts its environment. It is safe to
// call many times and from many goroutines; only the first successful call
// loads anything, and a later call naming a different library is an error,
// since a process can hold only one ONNX Runtime.
func Init(path string) error {
	if path == "" {
		path = os.Getenv(LibraryEnv)
	}
	if path == "" {
		return fmt.Errorf("ort: no ONNX Runtime library configured: set models.ort_library in the config or %s (scripts/setup/ort.sh installs one and prints the export line)", LibraryEnv)
	}
	libMu.Lock()
	defer libMu.Unlock()
	if libPath != "" {
		if libPath == path {
			return nil
		}
		return fmt.Errorf("ort: ONNX Runtime is already loaded from %s in this process; cannot also load %s", libPath, path)
	}
	if st, err := os.Stat(path); err != nil {
		return fmt.Errorf("ort: ONNX Runtime library %s: %w (run scripts/setup/ort.sh, or fix models.ort_library / %s)", path, errors.Unwrap(err), LibraryEnv)
	} else if st.IsDir() {
		return fmt.Errorf("ort: ONNX Runtime library %s is a directory; point at libonnxruntime.so itself", path)
	}
	onnx.SetSharedLibraryPath(path)
	if err := onnx.InitializeEnvironment(onnx.WithLogLevelError()); err != nil {
		// The bindings ask the library for C API 24; an older library (or
		// a file that is not ONNX Runtime at all) refuses here.
		return fmt.Errorf("ort: cannot load ONNX Runtime from %s (boostgen needs ONNX Runtime >= %s): %v", path, MinVersion, err)
	}
	if v := onnx.GetVersion(); !versionAtLeast(v, MinVersion) {
		onnx.DestroyEnvironment()
		return fmt.Errorf("ort: %s is ONNX Runtime %s; boostgen needs >= %s (scripts/setup/ort.sh installs 1.24.3)", path, v, MinVersion)
	}
	libPath = path
	return nil
}

// Version reports the loaded library's version ("" before Init).
func Version() string {
	libMu.Lock()
	defer libMu.Unlock()
	if libPath == "" {
		return ""
	}
	return onnx.GetVersion()
}

func versionAtLeast(have, want string) bool {
	h, w := strings.Split(have, "."), strings.Split(want, ".")
	for i := range w {
		wi, _ := strconv.Atoi(w[i])
		if i >= len(h) {
			return wi == 0
		}
		hi, err := strconv.Atoi(h[i])
		if err != nil {
			return false
		}
		if hi != wi {
			return hi > wi
		}
	}
	return true
}

// Options choose how a model runs.
type Options struct {
	// Library is the path of libonnxruntime.so; empty means $BOOSTGEN_ORT_LIB.
	Library string
	// Provider is the execution provider: "cpu" (or empty), "cuda:N" or
	// "tensorrt:N" with N the GPU index.
	Provider string
	// IntraOpThreads and InterOpThreads size ONNX Runtime's thread pools;
	// 0 leaves ONNX Runtime's default (one per core).
	IntraOpThreads int
	InterOpThreads int
}

// provider splits "cuda:1" into ("cuda", 1).
func parseProvider(p string) (name string, device int, err error) {
	if p == "" || p == "cpu" {
		return "cpu", 0, nil
	}
	name, dev, ok := strings.Cut(p, ":")
	if !ok {
		dev = "0"
	}
	switch name {
	case "cuda", "tensorrt":
	default:
		return "", 0, fmt.Errorf("ort: unknown execution provider %q (want cpu, cuda:N or tensorrt:N)", p)
	}
	device, err = strconv.Atoi(dev)
	if err != nil || device < 0 {
		return "", 0, fmt.Errorf("ort: bad device index in execution provider %q (want cpu, cuda:N or tensorrt:N)", p)
	}
	return name, device, nil
}

func newSessionOptions(o Options) (*onnx.SessionOptions, error) {
	name, device, err := parseProvider(o.Provider)
	if err != nil {
		return nil, err
	}
	so, err := onnx.NewSessionOptions()
	if err != nil {
		return nil, fmt.Errorf("ort: session options: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			so.Destroy()
		}
	}()
	if o.IntraOpThreads > 0 {
		if err := so.SetIntraOpNumThreads(o.IntraOpThreads); err != nil {
			return nil, fmt.Errorf("ort: intra-op threads: %w", err)
		}
	}
	if o.InterOpThreads > 0 {
		if err := so.SetInterOpNumThreads(o.InterOpThreads); err != nil {
			return nil, fmt.Errorf("ort: inter-op threads: %w", err)
		}
	}
	dev := map[string]string{"device_id": strconv.Itoa(device)}
	noProvider := func(err error) error {
		return fmt.Errorf("ort: execution provider %s is not available in the loaded ONNX Runtime (%s): %v; the npm/CPU build has only cpu, use a GPU build of ONNX Runtime (see docs/models.md) or provider cpu", o.Provider, Version(), err)
	}
	switch name {
	case "cuda":
		if err := appendCUDA(so, dev); err != nil {
			return nil, noProvider(err)
		}
	case "tensorrt":
		trt, err := onnx.NewTensorRTProviderOptions()
		if err != nil {
			return nil, noProvider(err)
		}
		defer trt.Destroy()
		if err := trt.Update(dev); err != nil {
			return nil, noProvider(err)
		}
		if err := so.AppendExecutionProviderTensorRT(trt); err != nil {
			return nil, noProvider(err)
		}
		// Nodes TensorRT cannot take fall back to CUDA, then CPU.
		if err := appendCUDA(so, dev); err != nil {
			return nil, noProvider(err)
		}
	}
	ok = true
	return so, nil
}

func appendCUDA(so *onnx.SessionOptions, dev map[string]string) error {
	cuda, err := onnx.NewCUDAProviderOptions()
	if err != nil {
		return err
	}
	defer cuda.Destroy()
	if err := cuda.Update(dev); err != nil {
		return err
	}
	return so.AppendExecutionProviderCUDA(cuda)
}

// ctxRunOptions returns run options that make ONNX Runtime abandon the run
// when ctx is cancelled, and a function to call once the run has returned.
func ctxRunOptions(ctx context.Context) (*onnx.RunOptions, func(), error) {
	if ctx.Done() == nil {
		return nil, func() {}, nil
	}
	ro, err := onnx.NewRunOptions()
	if err != nil {
		return nil, nil, fmt.Errorf("ort: run options: %w", err)
	}
	var mu sync.Mutex
	finished := false
	stop := context.AfterFunc(ctx, func() {
		mu.Lock()
		defer mu.Unlock()
		if !finished {
			ro.Terminate()
		}
	})
	return ro, func() {
		stop()
		mu.Lock()
		finished = true
		mu.Unlock()
		ro.Destroy()
	}, nil
}
