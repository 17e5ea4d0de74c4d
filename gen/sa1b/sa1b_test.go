package sa1b

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// rect builds an annotation whose mask is the rectangle [x0,x1)×[y0,y1) of
// a w×h image, encoded with the test's independent encoder.
func rect(id int64, w, h, x0, y0, x1, y1 int, iou, stab float64) Annotation {
	bits := make([]bool, w*h)
	for y := y0; y < y1; y++ {
		for x := x0; x < x1; x++ {
			bits[y*w+x] = true
		}
	}
	return Annotation{ID: id, Segmentation: Segmentation{Size: []int{h, w}, Counts: cocoEncode(bits, w, h)},
		Area: float64((x1 - x0) * (y1 - y0)), PredictedIoU: iou, StabilityScore: stab}
}

func TestSelect(t *testing.T) {
	const w, h = 100, 80
	f := &File{Image: ImageInfo{Width: w, Height: h}, Annotations: []Annotation{
		rect(1, w, h, 10, 10, 50, 50, 0.95, 0.97), // big box
		rect(2, w, h, 20, 20, 30, 30, 0.95, 0.97), // a part inside it: overlaps fully
		rect(3, w, h, 60, 10, 90, 40, 0.95, 0.97), // separate
		rect(4, w, h, 60, 50, 90, 70, 0.50, 0.97), // low predicted IoU
		rect(5, w, h, 0, 0, 2, 2, 0.95, 0.97),     // a speck
		rect(6, w, h, 0, 0, 100, 80, 0.95, 0.97),  // the whole image
		rect(7, w, h, 45, 45, 70, 60, 0.95, 0.97), // overlaps box 1 a little
	}}
	flt := Filter{MinPredictedIoU: 0.88, MinStability: 0.92, MinArea: 0.002, MaxArea: 0.6, MaxOverlap: 0.2}
	inst, sel, st, err := Select(f, w, h, flt)
	if err != nil {
		t.Fatal(err)
	}
	var got []int64
	for _, s := range sel {
		got = append(got, s.Annotation.ID)
	}
	if want := []int64{1, 3, 7}; len(got) != 3 || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] {
		t.Fatalf("selected %v, want %v (largest first, part and overlaps dropped)", got, want)
	}
	if st.LowScore != 1 || st.Area != 2 || st.Overlap != 1 {
		t.Fatalf("stats %+v", st)
	}
	at := func(x, y int) uint16 { return inst[y*w+x] }
	if at(15, 15) != 1 || at(25, 25) != 1 || at(70, 20) != 2 || at(65, 55) != 3 || at(47, 47) != 1 || at(5, 70) != 0 {
		t.Fatal("instance map does not hold the chosen masks, first come first served")
	}
	if sel[2].Pixels != 25*15-5*5 {
		t.Fatalf("mask 7 owns %d pixels, want %d", sel[2].Pixels, 25*15-5*5)
	}
	flt.MaxObjects = 1
	if _, sel, st, _ := Select(f, w, h, flt); len(sel) != 1 || st.Cap != 3 {
		t.Fatalf("max_objects 1: %d selected, %d capped", len(sel), st.Cap)
	}
}

func TestSelectErrors(t *testing.T) {
	const w, h = 20, 10
	bad := rect(9, w, h, 1, 1, 5, 5, 1, 1)
	bad.Segmentation.Counts = cocoEncode(make([]bool, 400), 20, 20) // 400 pixels for a 200-pixel mask
	wrongSize := rect(8, w, h, 1, 1, 5, 5, 1, 1)
	wrongSize.Segmentation.Size = []int{20, 10}
	tests := []struct {
		name string
		a    Annotation
		want string
	}{
		{"counts overflow the size", bad, "annotation 9: rle: counts add up to more than the 10×20 = 200 pixels"},
		{"size differs from the image", wrongSize, "annotation 8: segmentation size [20 10], but the image is 20×10"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, _, err := Select(&File{Annotations: []Annotation{tc.a}}, w, h, Filter{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
		})
	}
}

func TestReadTar(t *testing.T) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	add := func(name, body string) {
		tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg})
		tw.Write([]byte(body))
	}
	js, _ := json.Marshal(File{})
	add("sa_1.jpg", "img1")
	add("sa_1.json", string(js))
	add("sa_2.json", string(js)) // json first
	add("sa_2.jpg", "img2")
	add("README.txt", "ignored")
	add("sa_3.jpg", "lonely image")
	add("sub/sa_4.json", "lonely json")
	tw.Close()
	if n, err := CountTar(bytes.NewReader(buf.Bytes())); err != nil || n != 4 {
		t.Fatalf("CountTar = %d, %v; want the 4 samples ReadTar yields", n, err)
	}
	var got []Sample
	if err := ReadTar(&buf, "shard.tar", func(s Sample) bool { got = append(got, s); return true }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 4 {
		t.Fatalf("%d samples, want 4", len(got))
	}
	if got[0].Name != "sa_1" || string(got[0].Image) != "img1" || got[0].Err != nil || got[1].Name != "sa_2" || string(got[1].Image) != "img2" {
		t.Fatalf("pairs %+v %+v", got[0], got[1])
	}
	if got[2].Err == nil || !strings.Contains(got[2].Err.Error(), "sa_3.jpg has no sa_3.json") {
		t.Fatalf("lonely image: %v", got[2].Err)
	}
	if got[3].Err == nil || !strings.Contains(got[3].Err.Error(), "sa_4.json has no image") {
		t.Fatalf("lonely json: %v", got[3].Err)
	}
	// Stopping early is honoured.
	n := 0
	buf2 := bytes.NewBuffer(nil)
	tw = tar.NewWriter(buf2)
	add("sa_1.jpg", "a")
	add("sa_1.json", "{}")
	add("sa_2.jpg", "b")
	add("sa_2.json", "{}")
	tw.Close()
	ReadTar(buf2, "s", func(Sample) bool { n++; return false })
	if n != 1 {
		t.Fatalf("yield called %d times after returning false", n)
	}
}
