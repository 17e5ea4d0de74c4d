// Package onnxtest builds small ONNX models in Go, at test time, so that the
// model wrappers can be tested through the real ONNX Runtime without
// downloading multi-gigabyte exports. It writes the ONNX protobuf directly
// with protowire (IR version 8, opset 17, float32 initializers); only the
// fields the tests need are supported.
package onnxtest

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
)

// Element types (onnx.TensorProto.DataType).
const (
	Float = 1
	Int32 = 6
	Int64 = 7
)

// Opset and IRVersion are what every built model declares.
const (
	Opset     = 17
	IRVersion = 8
)

// Graph is a model under construction.
type Graph struct {
	nodes, inits, inputs, outputs [][]byte
	n                             int
}

// New starts an empty graph.
func New() *Graph { return &Graph{} }

// Input declares a graph input. Each dimension is an int (fixed) or a
// string (symbolic, e.g. "batch").
func (g *Graph) Input(name string, elem int, dims ...any) *Graph {
	g.inputs = append(g.inputs, valueInfo(name, elem, dims))
	return g
}

// Output declares a graph output, like Input.
func (g *Graph) Output(name string, elem int, dims ...any) *Graph {
	g.outputs = append(g.outputs, valueInfo(name, elem, dims))
	return g
}

// Const adds a float32 initializer and returns its name.
func (g *Graph) Const(data []float32, dims ...int64) string {
	raw := make([]byte, 4*len(data))
	for i, f := range data {
		binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(f))
	}
	return g.initializer(Float, dims, raw)
}

// ConstI64 adds an int64 initializer (shapes, axes) and returns its name.
func (g *Graph) ConstI64(data []int64, dims ...int64) string {
	raw := make([]byte, 8*len(data))
	for i, v := range data {
		binary.LittleEndian.PutUint64(raw[8*i:], uint64(v))
	}
	return g.initializer(Int64, dims, raw)
}

// initializer adds a TensorProto with little-endian raw_data.
func (g *Graph) initializer(elem int, dims []int64, raw []byte) string {
	name := g.fresh("c")
	var b []byte
	for _, d := range dims {
		b = protowire.AppendTag(b, 1, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(d))
	}
	b = appendVarintField(b, 2, uint64(elem))
	b = appendStringField(b, 8, name)
	b = appendBytesField(b, 9, raw)
	g.inits = append(g.inits, b)
	return name
}

// Scalar adds a one-element float32 constant that broadcasts against anything.
func (g *Graph) Scalar(v float32) string { return g.Const([]float32{v}, 1) }

// Attr is one node attribute; build it with Int, Ints, Float or Str.
type Attr []byte

// Int is an integer attribute.
func Int(name string, v int64) Attr {
	b := appendStringField(nil, 1, name)
	b = appendVarintField(b, 3, uint64(v))
	return appendVarintField(b, 20, 2)
}

// Ints is an integer-list attribute.
func Ints(name string, v ...int64) Attr {
	b := appendStringField(nil, 1, name)
	for _, x := range v {
		b = appendVarintField(b, 8, uint64(x))
	}
	return appendVarintField(b, 20, 7)
}

// Float32 is a float attribute.
func Float32(name string, v float32) Attr {
	b := appendStringField(nil, 1, name)
	b = protowire.AppendTag(b, 2, protowire.Fixed32Type)
	b = protowire.AppendFixed32(b, math.Float32bits(v))
	return appendVarintField(b, 20, 1)
}

// Op adds a node with one output and returns the output's name.
func (g *Graph) Op(op string, inputs []string, attrs ...Attr) string {
	out := g.fresh(op)
	g.Node(op, inputs, []string{out}, attrs...)
	return out
}

// Node adds a node with explicit output names (use it to write a graph
// output under its declared name).
func (g *Graph) Node(op string, inputs, outputs []string, attrs ...Attr) {
	var b []byte
	for _, in := range inputs {
		b = appendStringField(b, 1, in)
	}
	for _, out := range outputs {
		b = appendStringField(b, 2, out)
	}
	b = appendStringField(b, 3, g.fresh("n"))
	b = appendStringField(b, 4, op)
	for _, a := range attrs {
		b = appendBytesField(b, 5, a)
	}
	g.nodes = append(g.nodes, b)
}

// Identity writes src to the graph output named dst.
func (g *Graph) Identity(src, dst string) { g.Node("Identity", []string{src}, []string{dst}) }

// Bytes serialises the model.
func (g *Graph) Bytes() []byte {
	var gr []byte
	for _, n := range g.nodes {
		gr = appendBytesField(gr, 1, n)
	}
	gr = appendStringField(gr, 2, "onnxtest")
	for _, t := range g.inits {
		gr = appendBytesField(gr, 5, t)
	}
	for _, v := range g.inputs {
		gr = appendBytesField(gr, 11, v)
	}
	for _, v := range g.outputs {
		gr = appendBytesField(gr, 12, v)
	}
	var m []byte
	m = appendVarintField(m, 1, IRVersion)
	m = appendStringField(m, 2, "boostgen-onnxtest")
	m = appendBytesField(m, 7, gr)
	opset := appendStringField(nil, 1, "")
	opset = appendVarintField(opset, 2, Opset)
	m = appendBytesField(m, 8, opset)
	return m
}

// Write saves the model to path.
func (g *Graph) Write(path string) error { return os.WriteFile(path, g.Bytes(), 0o644) }

// WriteTemp saves the model as name in a directory of t's, failing t if it
// cannot, and returns its path.
func (g *Graph) WriteTemp(t testing.TB, name string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := g.Write(p); err != nil {
		t.Fatal(err)
	}
	return p
}

func (g *Graph) fresh(prefix string) string {
	g.n++
	return prefix + "_" + strconv.Itoa(g.n)
}

func valueInfo(name string, elem int, dims []any) []byte {
	var shape []byte
	for _, d := range dims {
		var dim []byte
		switch d := d.(type) {
		case int:
			dim = appendVarintField(nil, 1, uint64(d))
		case int64:
			dim = appendVarintField(nil, 1, uint64(d))
		case string:
			dim = appendStringField(nil, 2, d)
		default:
			panic("onnxtest: dimension must be int or string")
		}
		shape = appendBytesField(shape, 1, dim)
	}
	tensor := appendVarintField(nil, 1, uint64(elem))
	tensor = appendBytesField(tensor, 2, shape)
	typ := appendBytesField(nil, 1, tensor)
	b := appendStringField(nil, 1, name)
	return appendBytesField(b, 2, typ)
}

func appendVarintField(b []byte, num protowire.Number, v uint64) []byte {
	b = protowire.AppendTag(b, num, protowire.VarintType)
	return protowire.AppendVarint(b, v)
}

func appendBytesField(b []byte, num protowire.Number, v []byte) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendBytes(b, v)
}

func appendStringField(b []byte, num protowire.Number, s string) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendString(b, s)
}

// ConvStack appends conv3x3(3→w) → relu → conv3x3(w→w) → relu →
// conv3x3(w→3) to the graph, reading in (a [B,3,H,W] tensor) and returning
// the output's name. Its weights are fixed pseudo-random numbers, so the
// cost is a small vision model's and the result is the same every time:
// the benchmarks' stand-in for a real model.
func (g *Graph) ConvStack(in string, w int) string {
	rng := rand.New(rand.NewPCG(3, 4))
	conv := func(in string, cin, cout int) string {
		wt := make([]float32, cout*cin*9)
		for i := range wt {
			wt[i] = (rng.Float32() - 0.5) / float32(cin*3)
		}
		bias := make([]float32, cout)
		return g.Op("Conv", []string{in, g.Const(wt, int64(cout), int64(cin), 3, 3), g.Const(bias, int64(cout))},
			Ints("kernel_shape", 3, 3), Ints("pads", 1, 1, 1, 1))
	}
	h := g.Op("Relu", []string{conv(in, 3, w)})
	h = g.Op("Relu", []string{conv(h, w, w)})
	return conv(h, w, 3)
}
