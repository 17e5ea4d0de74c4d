package ort

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"

	onnx "github.com/yalue/onnxruntime_go"
)

// ElemType is a tensor element type; boostgen's models only need these.
type ElemType int

const (
	Float32 ElemType = iota
	Int64
	Int32
)

func (e ElemType) String() string {
	switch e {
	case Float32:
		return "float32"
	case Int64:
		return "int64"
	case Int32:
		return "int32"
	}
	return fmt.Sprintf("ElemType(%d)", int(e))
}

func (e ElemType) onnx() onnx.TensorElementDataType {
	switch e {
	case Int64:
		return onnx.TensorElementDataTypeInt64
	case Int32:
		return onnx.TensorElementDataTypeInt32
	}
	return onnx.TensorElementDataTypeFloat
}

// Tensor is a dense row-major tensor held in Go memory. Exactly one of the
// data slices is set, matching the element type.
type Tensor struct {
	Shape []int64
	F32   []float32
	I64   []int64
	I32   []int32
}

// F32Tensor wraps float32 data with a shape.
func F32Tensor(data []float32, shape ...int64) Tensor { return Tensor{Shape: shape, F32: data} }

// I64Tensor wraps int64 data with a shape.
func I64Tensor(data []int64, shape ...int64) Tensor { return Tensor{Shape: shape, I64: data} }

// I32Tensor wraps int32 data with a shape.
func I32Tensor(data []int32, shape ...int64) Tensor { return Tensor{Shape: shape, I32: data} }

// Type reports the element type.
func (t Tensor) Type() ElemType {
	switch {
	case t.I64 != nil:
		return Int64
	case t.I32 != nil:
		return Int32
	}
	return Float32
}

// Len is the number of elements held.
func (t Tensor) Len() int {
	switch t.Type() {
	case Int64:
		return len(t.I64)
	case Int32:
		return len(t.I32)
	}
	return len(t.F32)
}

// Elems is the number of elements the shape calls for.
func Elems(shape []int64) int64 {
	n := int64(1)
	for _, d := range shape {
		n *= d
	}
	return n
}

// value copies t into an ONNX Runtime tensor; checkInputs has checked its
// shape against its data.
func (t Tensor) value() (onnx.Value, error) {
	s := onnx.NewShape(t.Shape...)
	switch t.Type() {
	case Int64:
		return onnx.NewTensor(s, t.I64)
	case Int32:
		return onnx.NewTensor(s, t.I32)
	}
	return onnx.NewTensor(s, t.F32)
}

func tensorFromValue(v onnx.Value) (Tensor, error) {
	shape := []int64(v.GetShape())
	switch x := v.(type) {
	case *onnx.Tensor[float32]:
		return Tensor{Shape: shape, F32: x.GetData()}, nil
	case *onnx.Tensor[int64]:
		return Tensor{Shape: shape, I64: x.GetData()}, nil
	case *onnx.Tensor[int32]:
		return Tensor{Shape: shape, I32: x.GetData()}, nil
	}
	return Tensor{}, fmt.Errorf("unsupported output type %T (want a float32, int64 or int32 tensor)", v)
}

// Spec is what the caller's code expects of one model input or output.
type Spec struct {
	Name string
	// Ranks lists the accepted ranks; empty accepts any.
	Ranks []int
	Type  ElemType
	// Dims, when set, is the shape the caller's code was written for
	// (rank included); -1 accepts any size there. A dimension the model
	// declares symbolic is accepted whatever Dims says, since only a run
	// can tell its size.
	Dims []int64
}

// Contract lists the inputs a model is fed, in order, and the outputs read
// from it, in order.
type Contract struct {
	Inputs  []Spec
	Outputs []Spec
}

// Session is one model, opened once and shared by any number of goroutines
// (ONNX Runtime's Run is safe for concurrent use).
type Session struct {
	path     string
	contract Contract
	s        *onnx.DynamicAdvancedSession
}

// Open loads the model at path with the execution provider and threads of
// o, after checking that the model declares every input and output of c
// with an accepted rank and element type, so that a wrong export fails here,
// with the model path and what was expected and found, rather than deep
// inside a run.
func Open(path string, c Contract, o Options) (*Session, error) {
	if err := Init(o.Library); err != nil {
		return nil, err
	}
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("ort: model %s: %w", path, err)
	}
	so, err := newSessionOptions(o)
	if err != nil {
		return nil, fmt.Errorf("%w (model %s)", err, path)
	}
	defer so.Destroy()
	if err := checkContract(path, c); err != nil {
		return nil, err
	}
	in, out := names(c.Inputs), names(c.Outputs)
	s, err := onnx.NewDynamicAdvancedSession(path, in, out, so)
	if err != nil {
		return nil, fmt.Errorf("ort: model %s: %v", path, err)
	}
	return &Session{path: path, contract: c, s: s}, nil
}

func names(specs []Spec) []string {
	n := make([]string, len(specs))
	for i, s := range specs {
		n[i] = s.Name
	}
	return n
}

// checkContract reads the model's declared inputs and outputs. ONNX Runtime
// only reports them for a loaded model, so this loads it once with graph
// optimisation off (the cheapest load there is) before the real session.
func checkContract(path string, c Contract) error {
	probe, err := onnx.NewSessionOptions()
	if err != nil {
		return fmt.Errorf("ort: session options: %w", err)
	}
	defer probe.Destroy()
	probe.SetGraphOptimizationLevel(onnx.GraphOptimizationLevelDisableAll)
	ins, outs, err := onnx.GetInputOutputInfoWithOptions(path, probe)
	if err != nil {
		return fmt.Errorf("ort: model %s is not a loadable ONNX model: %v", path, err)
	}
	if err := checkSpecs(path, "input", c.Inputs, ins); err != nil {
		return err
	}
	return checkSpecs(path, "output", c.Outputs, outs)
}

func checkSpecs(path, kind string, want []Spec, have []onnx.InputOutputInfo) error {
	for _, w := range want {
		i := slices.IndexFunc(have, func(h onnx.InputOutputInfo) bool { return h.Name == w.Name })
		if i < 0 {
			return fmt.Errorf("ort: model %s has no %s %q; its %ss are %s (set the %s name in the model's config: exports differ)",
				path, kind, w.Name, kind, describe(have), kind)
		}
		h := have[i]
		if h.OrtValueType != onnx.ONNXTypeTensor {
			return fmt.Errorf("ort: model %s: %s %q is a %s, want a tensor", path, kind, w.Name, h.OrtValueType)
		}
		if len(w.Ranks) > 0 && !slices.Contains(w.Ranks, len(h.Dimensions)) {
			return fmt.Errorf("ort: model %s: %s %q has rank %d %s, want rank %s",
				path, kind, w.Name, len(h.Dimensions), dims(h.Dimensions), ranks(w.Ranks))
		}
		if w.Dims != nil && !dimsMatch(w.Dims, h.Dimensions) {
			return fmt.Errorf("ort: model %s: %s %q has shape %s, want %s", path, kind, w.Name, dims(h.Dimensions), dims(w.Dims))
		}
		if h.DataType != w.Type.onnx() {
			return fmt.Errorf("ort: model %s: %s %q has element type %s, want %s", path, kind, w.Name, elemName(h.DataType), w.Type)
		}
	}
	return nil
}

// dimsMatch reports whether a declared shape can be want: same rank, and
// every fixed size equal where want fixes one.
func dimsMatch(want []int64, have onnx.Shape) bool {
	if len(want) != len(have) {
		return false
	}
	for i, w := range want {
		if w >= 0 && have[i] >= 0 && have[i] != w {
			return false
		}
	}
	return true
}

// elemName names an ONNX element type the way ElemType does.
func elemName(t onnx.TensorElementDataType) string {
	for _, e := range []ElemType{Float32, Int64, Int32} {
		if e.onnx() == t {
			return e.String()
		}
	}
	return strings.ToLower(strings.TrimPrefix(t.String(), "ONNX_TENSOR_ELEMENT_DATA_TYPE_"))
}

func describe(infos []onnx.InputOutputInfo) string {
	if len(infos) == 0 {
		return "none"
	}
	parts := make([]string, len(infos))
	for i, h := range infos {
		parts[i] = fmt.Sprintf("%q %s %s", h.Name, dims(h.Dimensions), elemName(h.DataType))
	}
	return strings.Join(parts, ", ")
}

// dims writes a declared shape with symbolic dimensions as "?".
func dims(s onnx.Shape) string {
	parts := make([]string, len(s))
	for i, d := range s {
		if d < 0 {
			parts[i] = "?"
		} else {
			parts[i] = fmt.Sprint(d)
		}
	}
	return "[" + strings.Join(parts, ",") + "]"
}

func ranks(r []int) string {
	parts := make([]string, len(r))
	for i, x := range r {
		parts[i] = fmt.Sprint(x)
	}
	return strings.Join(parts, " or ")
}

// Path is the model file the session was opened from.
func (s *Session) Path() string { return s.path }

// checkInputs checks inputs against the contract: their number, and each
// one's rank, element type and element count (and, when batched, that it
// has a batch dimension). Run and Batcher.Run both check here, so a bad
// input gets the same error from either.
func (s *Session) checkInputs(inputs []Tensor, batched bool) error {
	if len(inputs) != len(s.contract.Inputs) {
		return fmt.Errorf("ort: model %s: %d inputs given, the contract has %d", s.path, len(inputs), len(s.contract.Inputs))
	}
	for i, t := range inputs {
		spec := s.contract.Inputs[i]
		if batched && len(t.Shape) == 0 {
			return fmt.Errorf("ort: model %s: input %q is a scalar; batched inputs need a leading batch dimension", s.path, spec.Name)
		}
		if len(spec.Ranks) > 0 && !slices.Contains(spec.Ranks, len(t.Shape)) {
			return fmt.Errorf("ort: model %s: input %q has shape %v, want rank %s", s.path, spec.Name, t.Shape, ranks(spec.Ranks))
		}
		if t.Type() != spec.Type {
			return fmt.Errorf("ort: model %s: input %q is %s, want %s", s.path, spec.Name, t.Type(), spec.Type)
		}
		if n := Elems(t.Shape); n != int64(t.Len()) {
			return fmt.Errorf("ort: model %s: input %q: shape %v needs %d elements, have %d", s.path, spec.Name, t.Shape, n, t.Len())
		}
	}
	return nil
}

// Run feeds inputs, in the contract's order, and returns the contract's
// outputs in order. Cancelling ctx aborts the run inside ONNX Runtime.
func (s *Session) Run(ctx context.Context, inputs ...Tensor) ([]Tensor, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := s.checkInputs(inputs, false); err != nil {
		return nil, err
	}
	in := make([]onnx.Value, len(inputs))
	defer func() {
		for _, v := range in {
			if v != nil {
				v.Destroy()
			}
		}
	}()
	for i, t := range inputs {
		v, err := t.value()
		if err != nil {
			return nil, fmt.Errorf("ort: model %s: input %q: %v", s.path, s.contract.Inputs[i].Name, err)
		}
		in[i] = v
	}
	out := make([]onnx.Value, len(s.contract.Outputs))
	ro, done, err := ctxRunOptions(ctx)
	if err != nil {
		return nil, err
	}
	err = s.s.RunWithOptions(in, out, ro)
	done()
	defer func() {
		for _, v := range out {
			if v != nil {
				v.Destroy()
			}
		}
	}()
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("ort: model %s: %v", s.path, err)
	}
	res := make([]Tensor, len(out))
	for i, v := range out {
		t, err := tensorFromValue(v)
		if err != nil {
			return nil, fmt.Errorf("ort: model %s: output %q: %v", s.path, s.contract.Outputs[i].Name, err)
		}
		res[i] = t
	}
	return res, nil
}

// Close frees the session.
func (s *Session) Close() error { return s.s.Destroy() }
