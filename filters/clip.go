// Package filters holds the stages that decide which inputs are worth
// turning into training data (paper, Appendix C): the CLIP image filter
// for single views (Table 11), CLIP zero-shot naming of unlabeled masks,
// and LPIPS pair mining for multi-view (Equation 2).
package filters

import (
	"context"
	"fmt"
	"image"
	"image/color"
	"math"
	"strings"

	"github.com/boostgen/boostgen/internal/models/clip"
)

// Label is one CLIP filter label.
type Label struct {
	Text     string `json:"text"`
	Positive bool   `json:"positive"`
}

// Table11 are the paper's filter labels, verbatim (Table 11, including its
// capitalisation and the "a DSLR of" wording).
var Table11 = []Label{
	{"an iPhone photo of an indoor scene", true},
	{"an iphone photo of an outdoor scene", true},
	{"a DSLR photo of an indoor scene", true},
	{"a DSLR of an outdoor scene", true},
	{"a close up shot of a single object", false},
	{"a product displayed in front of a white background", false},
	{"an artwork", false},
	{"a painting", false},
	{"a screenshot of a graphical user interface", false},
	{"a piece of text", false},
	{"a sketch", false},
}

// logitScale is CLIP's learned temperature (exp(4.6052) = 100), with which
// zero-shot classification turns cosine similarities into probabilities.
const logitScale = 100

// CLIPFilter keeps images whose most likely label is a positive one.
// Label embeddings are computed once, when it is made.
type CLIPFilter struct {
	m      *clip.Model
	labels []Label
	text   [][]float32
	margin float64
}

// CLIPScore is the filter's verdict on one image; it goes into the record's
// meta (filters.clip).
type CLIPScore struct {
	Best     string  `json:"best_label"`
	Positive bool    `json:"positive"`
	Prob     float64 `json:"prob"`   // softmax probability of the best label
	Margin   float64 `json:"margin"` // best positive minus best negative probability
	Keep     bool    `json:"keep"`
}

// NewCLIPFilter embeds the labels. margin is how much more likely the best
// positive label must be than the best negative one (0 = just more likely).
func NewCLIPFilter(ctx context.Context, m *clip.Model, labels []Label, margin float64) (*CLIPFilter, error) {
	var pos, neg int
	texts := make([]string, len(labels))
	for i, l := range labels {
		if strings.TrimSpace(l.Text) == "" {
			return nil, fmt.Errorf("filters.clip.labels[%d]: empty text", i)
		}
		texts[i] = l.Text
		if l.Positive {
			pos++
		} else {
			neg++
		}
	}
	if pos == 0 {
		return nil, fmt.Errorf("filters.clip.labels: no positive label, every image would be dropped")
	}
	emb, err := m.EmbedTexts(ctx, texts)
	if err != nil {
		return nil, fmt.Errorf("filters.clip: embedding the labels: %w", err)
	}
	return &CLIPFilter{m: m, labels: labels, text: emb, margin: margin}, nil
}

// Score classifies one image.
func (f *CLIPFilter) Score(ctx context.Context, img image.Image) (CLIPScore, error) {
	emb, err := f.m.EmbedImages(ctx, []image.Image{img})
	if err != nil {
		return CLIPScore{}, err
	}
	p := softmax(emb[0], f.text)
	best, bestPos, bestNeg := 0, -1.0, 0.0
	for i, l := range f.labels {
		if p[i] > p[best] {
			best = i
		}
		if l.Positive {
			bestPos = math.Max(bestPos, p[i])
		} else {
			bestNeg = math.Max(bestNeg, p[i])
		}
	}
	s := CLIPScore{Best: f.labels[best].Text, Positive: f.labels[best].Positive, Prob: round4(p[best]), Margin: round4(bestPos - bestNeg)}
	s.Keep = s.Positive && bestPos-bestNeg >= f.margin
	return s, nil
}

// Namer names object crops zero-shot against a vocabulary.
type Namer struct {
	m      *clip.Model
	vocab  []string
	text   [][]float32
	margin float64
}

// Naming is the result for one crop. Label is empty when the best and
// second-best names are closer than the margin (ambiguous).
type Naming struct {
	Label  string  `json:"label,omitempty"`
	Best   string  `json:"best"`
	Prob   float64 `json:"prob"`
	Margin float64 `json:"margin"`
}

// NewNamer embeds the vocabulary, each word put into prompt at "{label}"
// ("a photo of a {label}" is CLIP's usual zero-shot prompt).
func NewNamer(ctx context.Context, m *clip.Model, vocab []string, prompt string, margin float64) (*Namer, error) {
	if len(vocab) < 2 {
		return nil, fmt.Errorf("filters.naming.vocabulary: need at least two names, have %d", len(vocab))
	}
	if !strings.Contains(prompt, "{label}") {
		return nil, fmt.Errorf("filters.naming.prompt %q: must contain {label}", prompt)
	}
	texts := make([]string, len(vocab))
	for i, v := range vocab {
		texts[i] = strings.ReplaceAll(prompt, "{label}", v)
	}
	emb, err := m.EmbedTexts(ctx, texts)
	if err != nil {
		return nil, fmt.Errorf("filters.naming: embedding the vocabulary: %w", err)
	}
	return &Namer{m: m, vocab: vocab, text: emb, margin: margin}, nil
}

// Name names each crop.
func (n *Namer) Name(ctx context.Context, crops []image.Image) ([]Naming, error) {
	if len(crops) == 0 {
		return nil, nil
	}
	embs, err := n.m.EmbedImages(ctx, crops)
	if err != nil {
		return nil, err
	}
	out := make([]Naming, len(crops))
	for c, e := range embs {
		p := softmax(e, n.text)
		first, second := 0, -1
		for i := 1; i < len(p); i++ {
			switch {
			case p[i] > p[first]:
				first, second = i, first
			case second < 0 || p[i] > p[second]:
				second = i
			}
		}
		nm := Naming{Best: n.vocab[first], Prob: round4(p[first]), Margin: round4(p[first] - p[second])}
		if p[first]-p[second] >= n.margin {
			nm.Label = n.vocab[first]
		}
		out[c] = nm
	}
	return out, nil
}

func softmax(img []float32, texts [][]float32) []float64 {
	logits := make([]float64, len(texts))
	hi := math.Inf(-1)
	for i, t := range texts {
		var dot float64
		for k := range min(len(t), len(img)) {
			dot += float64(img[k]) * float64(t[k])
		}
		logits[i] = logitScale * dot
		hi = math.Max(hi, logits[i])
	}
	var sum float64
	for i := range logits {
		logits[i] = math.Exp(logits[i] - hi)
		sum += logits[i]
	}
	for i := range logits {
		logits[i] /= sum
	}
	return logits
}

func round4(f float64) float64 { return math.Round(f*1e4) / 1e4 }

// cropFill is the colour outside an object's mask in its crop: CLIP's
// normalisation mean, so that the background carries no signal.
var cropFill = color.NRGBA{123, 117, 104, 255}

// MaskCrop cuts the object with instance id out of img: its bounding box
// grown by pad (a share of its size, for context), pixels outside the mask
// filled with a neutral colour.
func MaskCrop(img *image.NRGBA, inst []uint16, id uint16, box image.Rectangle, pad float64) *image.NRGBA {
	b := img.Bounds()
	w := b.Dx()
	px, py := int(pad*float64(box.Dx())), int(pad*float64(box.Dy()))
	r := image.Rect(box.Min.X-px, box.Min.Y-py, box.Max.X+px, box.Max.Y+py).Intersect(b)
	out := image.NewNRGBA(image.Rect(0, 0, r.Dx(), r.Dy()))
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			c := cropFill
			if inst[(y-b.Min.Y)*w+(x-b.Min.X)] == id {
				c = img.NRGBAAt(x, y)
			}
			out.SetNRGBA(x-r.Min.X, y-r.Min.Y, c)
		}
	}
	return out
}
