package scannet_test

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/boostgen/boostgen/gen/scannet"
	"github.com/boostgen/boostgen/gen/synthetic"
)

func TestSyntheticRoundTrip(t *testing.T) {
	for _, views := range []int{1, 4} {
		sc, err := synthetic.Generate(11, 2, views, synthetic.Options{Width: 160, Height: 120, MinObjects: 3, MaxObjects: 5, WallChance: 1})
		if err != nil {
			t.Fatal(err)
		}
		it, _, err := sc.Item("scene0002_00")
		if err != nil {
			t.Fatal(err)
		}
		dir := filepath.Join(t.TempDir(), "scene0002_00")
		if err := scannet.Write(dir, it, sc.Truth()); err != nil {
			t.Fatal(err)
		}
		for _, f := range []string{"color/0.png", "depth/0.png", "pose/0.txt", "intrinsic/intrinsic_color.txt", "intrinsic/intrinsic_depth.txt", "instance-filt/0.png", "scene0002_00.aggregation.json", "boostgen.json"} {
			if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
				t.Errorf("layout: %v", err)
			}
		}
		back, err := scannet.Read(dir, nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(back.Views) != views {
			t.Fatalf("%d views back, wrote %d", len(back.Views), views)
		}
		for n := range it.Views {
			a, b := it.Views[n], back.Views[n]
			if !bytes.Equal(a.Image.Bytes, b.Image.Bytes) || a.W != b.W || a.H != b.H {
				t.Errorf("view %d: image differs", n)
			}
			if !reflect.DeepEqual(a.Depth, b.Depth) {
				t.Errorf("view %d: depth differs", n)
			}
			if !reflect.DeepEqual(a.Instances, b.Instances) {
				t.Errorf("view %d: instances differ", n)
			}
			if a.K != b.K {
				t.Errorf("view %d: intrinsics %+v vs %+v", n, a.K, b.K)
			}
			if d := a.CamToWorld.T.Dist(b.CamToWorld.T); d > 1e-12 || a.CamToWorld.R != b.CamToWorld.R {
				t.Errorf("view %d: pose differs", n)
			}
		}
		if !reflect.DeepEqual(it.Objects, back.Objects) || !reflect.DeepEqual(it.Captions, back.Captions) {
			t.Errorf("labels or captions differ: %v %v", back.Objects, back.Captions)
		}
	}
}

func TestReadErrorsNameTheFile(t *testing.T) {
	sc, _ := synthetic.Generate(1, 0, 1, synthetic.Options{Width: 64, Height: 48, MinObjects: 2, MaxObjects: 3})
	it, _, _ := sc.Item("s")
	for _, c := range []struct {
		name   string
		damage func(dir string)
		want   string
	}{
		{"NaN pose", func(dir string) {
			os.WriteFile(filepath.Join(dir, "pose", "0.txt"), []byte("nan 0 0 0\n0 1 0 0\n0 0 1 0\n0 0 0 1\n"), 0o644)
		}, "pose/0.txt: pose is not finite"},
		{"short intrinsics", func(dir string) {
			os.WriteFile(filepath.Join(dir, "intrinsic", "intrinsic_color.txt"), []byte("1 0 0\n"), 0o644)
		}, "intrinsic_color.txt: want a 4×4 matrix"},
		{"truncated depth", func(dir string) {
			p := filepath.Join(dir, "depth", "0.png")
			b, _ := os.ReadFile(p)
			os.WriteFile(p, b[:len(b)/2], 0o644)
		}, "depth/0.png"},
		{"depth of another size without depth intrinsics", func(dir string) {
			sc2, _ := synthetic.Generate(1, 0, 1, synthetic.Options{Width: 32, Height: 24, MinObjects: 2, MaxObjects: 3})
			it2, _, _ := sc2.Item("t")
			d2 := filepath.Join(filepath.Dir(dir), "other")
			scannet.Write(d2, it2, nil)
			b, _ := os.ReadFile(filepath.Join(d2, "depth", "0.png"))
			os.WriteFile(filepath.Join(dir, "depth", "0.png"), b, 0o644)
			os.Remove(filepath.Join(dir, "intrinsic", "intrinsic_depth.txt"))
		}, "depth is 32×24 but color is 64×48, and without"},
		{"no color", func(dir string) { os.RemoveAll(filepath.Join(dir, "color")) }, "color"},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "scene")
			if err := scannet.Write(dir, it, nil); err != nil {
				t.Fatal(err)
			}
			c.damage(dir)
			_, err := scannet.Read(dir, nil)
			if err == nil || !strings.Contains(filepath.ToSlash(err.Error()), c.want) {
				t.Fatalf("error %v, want it to mention %q", err, c.want)
			}
		})
	}
}

// Depth smaller than color (as real exports store it) is registered to the
// color pixels through both intrinsics.
func TestReadRegistersSmallerDepth(t *testing.T) {
	sc, _ := synthetic.Generate(2, 0, 1, synthetic.Options{Width: 64, Height: 48, MinObjects: 2, MaxObjects: 3})
	it, _, _ := sc.Item("s")
	dir := filepath.Join(t.TempDir(), "scene")
	if err := scannet.Write(dir, it, nil); err != nil {
		t.Fatal(err)
	}
	// Half-size depth: every other pixel of the full one, and intrinsics
	// halved (fx/2, cx/2: pixel centres at integer coordinates).
	full := it.Views[0].Depth
	half := image.NewGray16(image.Rect(0, 0, 32, 24))
	for j := 0; j < 24; j++ {
		for i := 0; i < 32; i++ {
			half.SetGray16(i, j, color.Gray16{Y: uint16(float64(full.Z[2*j*64+2*i])*1000 + 0.5)})
		}
	}
	var buf bytes.Buffer
	png.Encode(&buf, half)
	os.WriteFile(filepath.Join(dir, "depth", "0.png"), buf.Bytes(), 0o644)
	k := it.Views[0].K
	os.WriteFile(filepath.Join(dir, "intrinsic", "intrinsic_depth.txt"), []byte(fmt.Sprintf("%v 0 %v 0\n0 %v %v 0\n0 0 1 0\n0 0 0 1\n", k.Fx/2, k.Cx/2, k.Fy/2, k.Cy/2)), 0o644)
	back, err := scannet.Read(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	d := back.Views[0].Depth
	if d.W != 64 || d.H != 48 {
		t.Fatalf("registered depth is %d×%d", d.W, d.H)
	}
	for j := 0; j < 48; j += 2 {
		for i := 0; i < 64; i += 2 {
			if got, want := d.Z[j*64+i], full.Z[j*64+i]; math.Abs(float64(got-want)) > 0.0011 {
				t.Fatalf("pixel (%d,%d): %v, want %v", i, j, got, want)
			}
		}
	}
}
