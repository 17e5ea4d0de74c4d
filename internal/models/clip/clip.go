// Package clip embeds images and texts with a CLIP model through ONNX
// Runtime, for boostgen's open-vocabulary image filtering.
//
// The vision tower takes pixel_values [B,3,224,224]: the image's short side
// resized to 224 (bicubic) and the centre cropped, as CLIP's own transform
// does, normalised with OpenAI's mean and std. The text tower takes
// input_ids [B,77] (and, for Hugging Face exports, attention_mask) from
// the Tokenizer; alternatively text embeddings are read precomputed from a
// JSON file {label: [floats]}, which needs no text tower and no vocabulary.
// Every embedding returned is L2-normalised here, whatever the export does,
// so a dot product is the cosine similarity.
//
// Defaults match the Hugging Face exports (e.g. Xenova/clip-vit-base-patch32:
// onnx/vision_model.onnx -> image_embeds, onnx/text_model.onnx ->
// text_embeds); names, sizes and normalisation are configurable.
package clip

import (
	"context"
	"encoding/json"
	"fmt"
	"image"
	"math"
	"os"

	"github.com/boostgen/boostgen/internal/models/imgprep"
	"github.com/boostgen/boostgen/internal/ort"
)

// Config describes the towers and their exports' conventions.
type Config struct {
	// VisionPath is the image tower (.onnx); required for EmbedImages.
	VisionPath                string
	VisionInput, VisionOutput string
	Size                      int
	Norm                      imgprep.Norm

	// TextPath is the text tower; with it, VocabPath (the
	// bpe_simple_vocab_16e6.txt.gz merges file) is required.
	TextPath, VocabPath   string
	TextInput, TextOutput string
	// TextMask names the attention-mask input; empty if the export has none.
	TextMask string
	// TextIDs is the element type of input ids: "int64" (Hugging Face
	// exports) or "int32" (some OpenAI exports).
	TextIDs string

	// TextEmbeddings is a JSON file {label: [floats]} used instead of a
	// text tower.
	TextEmbeddings string

	ORT   ort.Options
	Batch ort.BatchOptions
}

// Defaults returns the conventions of the Hugging Face CLIP exports.
func Defaults() Config {
	return Config{
		VisionInput:  "pixel_values",
		VisionOutput: "image_embeds",
		Size:         224,
		Norm:         imgprep.OpenAICLIP,
		TextInput:    "input_ids",
		TextOutput:   "text_embeds",
		TextMask:     "attention_mask",
		TextIDs:      "int64",
		Batch:        ort.BatchOptions{MaxBatch: 32},
	}
}

// Model is a loaded CLIP, safe for concurrent use.
type Model struct {
	cfg    Config
	vision *ort.Session
	images *ort.Batcher
	text   *ort.Session
	tok    *Tokenizer
	table  map[string][]float32
}

// New loads the towers the config names.
func New(c Config) (_ *Model, err error) {
	m := &Model{cfg: c}
	defer func() {
		if err != nil {
			m.Close()
		}
	}()
	if c.VisionPath == "" && c.TextPath == "" && c.TextEmbeddings == "" {
		return nil, fmt.Errorf("clip: nothing to load: set a vision model, a text model or a text embeddings file")
	}
	if c.VisionPath != "" {
		if c.Size <= 0 {
			return nil, fmt.Errorf("clip: image size %d: want a positive number of pixels", c.Size)
		}
		m.vision, err = ort.Open(c.VisionPath, ort.Contract{
			Inputs:  []ort.Spec{{Name: c.VisionInput, Ranks: []int{4}}},
			Outputs: []ort.Spec{{Name: c.VisionOutput, Ranks: []int{2}}},
		}, c.ORT)
		if err != nil {
			return nil, fmt.Errorf("clip: vision tower: %w", err)
		}
		m.images = ort.NewBatcher(m.vision, c.Batch)
	}
	if c.TextPath != "" && c.TextEmbeddings != "" {
		return nil, fmt.Errorf("clip: set a text model or a text embeddings file, not both")
	}
	if c.TextPath != "" {
		ids := ort.Int64
		switch c.TextIDs {
		case "int64", "":
		case "int32":
			ids = ort.Int32
		default:
			return nil, fmt.Errorf("clip: text id type %q: want int64 or int32", c.TextIDs)
		}
		if c.VocabPath == "" {
			return nil, fmt.Errorf("clip: the text model %s needs the vocabulary file (bpe_simple_vocab_16e6.txt.gz)", c.TextPath)
		}
		if m.tok, err = LoadTokenizer(c.VocabPath); err != nil {
			return nil, err
		}
		contract := ort.Contract{
			Inputs:  []ort.Spec{{Name: c.TextInput, Ranks: []int{2}, Type: ids}},
			Outputs: []ort.Spec{{Name: c.TextOutput, Ranks: []int{2}}},
		}
		if c.TextMask != "" {
			contract.Inputs = append(contract.Inputs, ort.Spec{Name: c.TextMask, Ranks: []int{2}, Type: ids})
		}
		if m.text, err = ort.Open(c.TextPath, contract, c.ORT); err != nil {
			return nil, fmt.Errorf("clip: text tower: %w", err)
		}
	}
	if c.TextEmbeddings != "" {
		if m.table, err = loadTable(c.TextEmbeddings); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func loadTable(path string) (map[string][]float32, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("clip: text embeddings: %w", err)
	}
	var table map[string][]float32
	if err := json.Unmarshal(data, &table); err != nil {
		return nil, fmt.Errorf("clip: text embeddings %s: want a JSON object {label: [numbers]}: %v", path, err)
	}
	dim := -1
	for label, v := range table {
		if dim >= 0 && len(v) != dim {
			return nil, fmt.Errorf("clip: text embeddings %s: %q has %d values, others have %d", path, label, len(v), dim)
		}
		dim = len(v)
		if err := normalize(v); err != nil {
			return nil, fmt.Errorf("clip: text embeddings %s: %q: %v", path, label, err)
		}
	}
	return table, nil
}

// Close releases the towers.
func (m *Model) Close() error {
	if m.images != nil {
		m.images.Close()
	}
	if m.vision != nil {
		m.vision.Close()
	}
	if m.text != nil {
		m.text.Close()
	}
	return nil
}

// EmbedImages returns one unit-length embedding per image. The images go
// through the batcher one by one, so concurrent callers share batches.
func (m *Model) EmbedImages(ctx context.Context, imgs []image.Image) ([][]float32, error) {
	if m.vision == nil {
		return nil, fmt.Errorf("clip: no vision model configured")
	}
	out := make([][]float32, len(imgs))
	n := m.cfg.Size
	err := ort.Each(ctx, len(imgs), 2*max(1, m.cfg.Batch.MaxBatch), func(ctx context.Context, i int) error {
		px, _ := imgprep.Input(imgs[i], n, n, imgprep.CenterCrop, m.cfg.Norm, 0)
		res, err := m.images.Run(ctx, ort.F32Tensor(px, 1, 3, int64(n), int64(n)))
		if err == nil {
			out[i] = append([]float32(nil), res[0].F32...)
			err = normalize(out[i])
		}
		if err != nil {
			return fmt.Errorf("clip: image %d: %w", i, err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// EmbedTexts returns one unit-length embedding per text: from the text
// tower, in batches of at most Batch.MaxBatch, or from the embeddings file,
// where every text must be a label in it.
func (m *Model) EmbedTexts(ctx context.Context, texts []string) ([][]float32, error) {
	out := make([][]float32, len(texts))
	if m.table != nil {
		for i, t := range texts {
			v, ok := m.table[t]
			if !ok {
				return nil, fmt.Errorf("clip: text %q is not in the embeddings file %s", t, m.cfg.TextEmbeddings)
			}
			out[i] = v
		}
		return out, nil
	}
	if m.text == nil {
		return nil, fmt.Errorf("clip: no text model or text embeddings file configured")
	}
	step := max(1, m.cfg.Batch.MaxBatch)
	for lo := 0; lo < len(texts); lo += step {
		hi := min(lo+step, len(texts))
		n := int64(hi - lo)
		var inputs []ort.Tensor
		ids := make([]int64, 0, int(n)*ContextLength)
		mask := make([]int64, 0, int(n)*ContextLength)
		for _, t := range texts[lo:hi] {
			// The mask covers SOT through the first EOT; the zero padding
			// after it is masked out (id 0 is also a real token, "!").
			seen := false
			for _, id := range m.tok.Tokens(t) {
				ids = append(ids, int64(id))
				mask = append(mask, b2i(!seen))
				seen = seen || id == m.tok.EOT
			}
		}
		inputs = append(inputs, m.idTensor(ids, n))
		if m.cfg.TextMask != "" {
			inputs = append(inputs, m.idTensor(mask, n))
		}
		res, err := m.text.Run(ctx, inputs...)
		if err != nil {
			return nil, fmt.Errorf("clip: %w", err)
		}
		emb := res[0]
		if emb.Shape[0] != n {
			return nil, fmt.Errorf("clip: model %s: output %q has shape %v for %d texts", m.cfg.TextPath, m.cfg.TextOutput, emb.Shape, n)
		}
		dim := int(emb.Shape[1])
		for i := range int(n) {
			v := append([]float32(nil), emb.F32[i*dim:(i+1)*dim]...)
			if err := normalize(v); err != nil {
				return nil, fmt.Errorf("clip: text %q: %v", texts[lo+i], err)
			}
			out[lo+i] = v
		}
	}
	return out, nil
}

func (m *Model) idTensor(v []int64, n int64) ort.Tensor {
	if m.cfg.TextIDs == "int32" {
		v32 := make([]int32, len(v))
		for i, x := range v {
			v32[i] = int32(x)
		}
		return ort.I32Tensor(v32, n, ContextLength)
	}
	return ort.I64Tensor(v, n, ContextLength)
}

func b2i(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// normalize scales v to unit length in place.
func normalize(v []float32) error {
	var ss float64
	for _, x := range v {
		ss += float64(x) * float64(x)
	}
	if ss == 0 || math.IsNaN(ss) || math.IsInf(ss, 0) {
		return fmt.Errorf("embedding is zero or not finite; cannot normalise it")
	}
	inv := 1 / math.Sqrt(ss)
	for i := range v {
		v[i] = float32(float64(v[i]) * inv)
	}
	return nil
}
