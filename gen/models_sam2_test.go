package gen

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/boostgen/boostgen/internal/models/sam2/sam2test"
	"github.com/boostgen/boostgen/internal/onnxtest"
)

// geometry.masks: sam2 is checked before any work starts.
func TestSAM2ConfigErrors(t *testing.T) {
	tests := []struct {
		name, config, want string
	}{
		{"no model", "source: {type: folder, folder: {path: x}}\ngeometry: {masks: sam2}\n",
			"models.sam2: required (encoder and decoder) when geometry.masks is sam2"},
		{"unknown mode", "source: {type: folder, folder: {path: x}}\ngeometry: {masks: sam3}\n", "geometry.masks"},
		{"no decoder", "source: {type: folder, folder: {path: x}}\ngeometry: {masks: sam2}\nmodels: {sam2: {encoder: e.onnx}}\n", "decoder"},
		{"size not a multiple of 16", "source: {type: folder, folder: {path: x}}\ngeometry: {masks: sam2}\nmodels: {sam2: {encoder: e.onnx, decoder: d.onnx, size: 1000}}\n", "models.sam2.size"},
		{"a source with masks", "source: {type: synthetic}\ngeometry: {masks: sam2}\nmodels: {sam2: {encoder: e.onnx, decoder: d.onnx}}\n",
			"geometry.masks: sam2 gives masks to folder and video sources; source synthetic has its own"},
		{"unknown key", "source: {type: folder, folder: {path: x}}\ngeometry: {masks: sam2}\nmodels: {sam2: {encoder: e.onnx, decoder: d.onnx, crop_n_layers: 1}}\n", "crop_n_layers"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseConfig([]byte(tc.config))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want it to say %q", err, tc.want)
			}
		})
	}
	if _, err := LoadConfig("../examples/folder-sam2.yaml"); err != nil {
		t.Errorf("the example: %v", err)
	}
	cfg, err := ParseConfig([]byte("source: {type: folder, folder: {path: x}}\ngeometry: {masks: sam2}\nmodels: {sam2: {encoder: e.onnx, decoder: d.onnx}}\n"))
	if err != nil {
		t.Fatal(err)
	}
	s := cfg.Models.SAM2
	if s.ImageInput != "image" || s.MasksOutput != "masks" || s.IoUOutput != "iou_predictions" || s.Size != 1024 || s.PointsPerSide != 32 || s.PointsPerBatch != 64 ||
		*s.PredIoUThresh != 0.8 || *s.StabilityThresh != 0.95 || *s.StabilityOffset != 1 || *s.BoxNMSThresh != 0.7 || float32(s.Mean[0]) != 0.485 {
		t.Errorf("defaults %+v: want samexporter's names and SAM2AutomaticMaskGenerator's settings", s)
	}
}

// A SAM 2 export with other output names stops the run at start, naming
// the file and what it declares; a decoder that gives NaN makes every
// image a model reject, and the run goes on to the end.
func TestSAM2BadModels(t *testing.T) {
	lib := onnxtest.Library(t)
	dir := t.TempDir()
	photos := filepath.Join(dir, "photos")
	os.MkdirAll(photos, 0o755)
	for n, it := range renderItems(t, 5, 2, 96, 64) {
		os.WriteFile(filepath.Join(photos, fmt.Sprintf("img_%d.png", n)), it.Views[0].Image.Bytes, 0o644)
	}
	config := func(v sam2test.Variant) *Config {
		enc, dec := sam2test.Write(t, t.TempDir(), v)
		cfg, err := ParseConfig([]byte(fmt.Sprintf(`source: {type: folder, folder: {path: %q}}
geometry: {masks: sam2}
models: {ort_library: %q, sam2: {encoder: %q, decoder: %q, points_per_side: 4}}
`, photos, lib, enc, dec)))
		if err != nil {
			t.Fatal(err)
		}
		return cfg
	}

	cfg := config(sam2test.WrongNames)
	_, err := Run(context.Background(), cfg, RunOptions{Out: filepath.Join(dir, "wrong"), Workers: 2})
	if err == nil || !strings.Contains(err.Error(), "models.sam2: sam2 decoder") || !strings.Contains(err.Error(), cfg.Models.SAM2.Decoder) ||
		!strings.Contains(err.Error(), `no output "masks"`) || !strings.Contains(err.Error(), `"low_res_masks"`) {
		t.Errorf("run with misnamed outputs: %v", err)
	}

	out := filepath.Join(dir, "nan")
	sum, err := Run(context.Background(), config(sam2test.NaNLogits), RunOptions{Out: out, Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Items != 2 || sum.RejectsByCode[RejectModel] != 2 {
		t.Fatalf("summary %+v: want both images model rejects", sum)
	}
	for id, r := range readRejects(t, out) {
		if !strings.Contains(r.Reason, id+": sam2: sam2 decoder") || !strings.Contains(r.Reason, "NaN") {
			t.Errorf("%s: reason %q, want it to name the image, the decoder and the NaN", id, r.Reason)
		}
	}
}
