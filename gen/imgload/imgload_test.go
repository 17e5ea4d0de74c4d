package imgload

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"os"
	"strings"
	"testing"
)

func encodePNG(t *testing.T, img image.Image) []byte {
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// leftRight is w×h, red in the left half and blue in the right.
func leftRight(w, h int) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			c := color.RGBA{230, 10, 10, 255}
			if x >= w/2 {
				c = color.RGBA{10, 10, 230, 255}
			}
			img.SetRGBA(x, y, c)
		}
	}
	return img
}

func encodeJPEG(t *testing.T, img image.Image) []byte {
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: 100}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// withOrientation splices an EXIF APP1 segment with the given orientation
// (little-endian TIFF, one IFD entry) in after the JPEG's SOI marker.
func withOrientation(jpg []byte, o uint16) []byte {
	tiff := []byte("II*\x00\x08\x00\x00\x00")
	tiff = binary.LittleEndian.AppendUint16(tiff, 1)      // one entry
	tiff = binary.LittleEndian.AppendUint16(tiff, 0x0112) // Orientation
	tiff = binary.LittleEndian.AppendUint16(tiff, 3)      // SHORT
	tiff = binary.LittleEndian.AppendUint32(tiff, 1)
	tiff = binary.LittleEndian.AppendUint16(tiff, o)
	tiff = append(tiff, 0, 0, 0, 0, 0, 0) // value padding, next IFD = 0
	seg := append([]byte("Exif\x00\x00"), tiff...)
	out := append([]byte{}, jpg[:2]...)
	out = append(out, 0xFF, 0xE1)
	out = binary.BigEndian.AppendUint16(out, uint16(len(seg)+2))
	out = append(out, seg...)
	return append(out, jpg[2:]...)
}

// bombPNG is a valid PNG header declaring w×h pixels and no pixel data.
func bombPNG(w, h uint32) []byte {
	b := []byte("\x89PNG\r\n\x1a\n")
	chunk := func(typ string, data []byte) {
		b = binary.BigEndian.AppendUint32(b, uint32(len(data)))
		td := append([]byte(typ), data...)
		b = append(b, td...)
		b = binary.BigEndian.AppendUint32(b, crc32.ChecksumIEEE(td))
	}
	ihdr := binary.BigEndian.AppendUint32(nil, w)
	ihdr = binary.BigEndian.AppendUint32(ihdr, h)
	ihdr = append(ihdr, 8, 2, 0, 0, 0) // 8-bit RGB
	chunk("IHDR", ihdr)
	chunk("IEND", nil)
	return b
}

func TestDecode(t *testing.T) {
	gray16 := image.NewGray16(image.Rect(0, 0, 6, 4))
	for i := range gray16.Pix {
		gray16.Pix[i] = 0x80
	}
	webp, err := os.ReadFile("testdata/src.webp") // ffmpeg -f lavfi -i testsrc=size=48x32 -c:v libwebp -lossless 1
	if err != nil {
		t.Fatal(err)
	}
	webpRef, err := os.ReadFile("testdata/src.png") // the same frame as PNG
	if err != nil {
		t.Fatal(err)
	}
	plainJPEG := encodeJPEG(t, leftRight(8, 4))
	tests := []struct {
		name      string
		data      []byte
		w, h      int
		ext       string
		original  bool // the bytes are kept as they are
		reencoded string
		check     func(t *testing.T, img *Image)
	}{
		{"plain jpeg kept", plainJPEG, 8, 4, ".jpg", true, "", nil},
		{"png kept", encodePNG(t, leftRight(8, 4)), 8, 4, ".png", true, "", nil},
		{"gray png kept", encodePNG(t, image.NewGray(image.Rect(0, 0, 5, 3))), 5, 3, ".png", true, "", nil},
		{"16-bit png made 8-bit", encodePNG(t, gray16), 6, 4, ".png", false, "8-bit", func(t *testing.T, img *Image) {
			if c := img.Pixels.NRGBAAt(2, 2); c.R != 0x80 || c.G != 0x80 {
				t.Fatalf("pixel %v, want 0x80 gray", c)
			}
			cfg, _ := png.DecodeConfig(bytes.NewReader(img.Bytes))
			if cfg.ColorModel == color.Gray16Model || cfg.ColorModel == color.RGBA64Model || cfg.ColorModel == color.NRGBA64Model {
				t.Fatal("re-encoded PNG is still 16-bit")
			}
		}},
		{"exif orientation 6 rotates clockwise", withOrientation(plainJPEG, 6), 4, 8, ".jpg", false, "orientation 6", func(t *testing.T, img *Image) {
			// The left (red) half of the stored image is the top when shown.
			if c := img.Pixels.NRGBAAt(1, 1); c.R < 150 || c.B > 100 {
				t.Fatalf("top pixel %v, want red", c)
			}
			if c := img.Pixels.NRGBAAt(1, 6); c.B < 150 || c.R > 100 {
				t.Fatalf("bottom pixel %v, want blue", c)
			}
			if o := jpegOrientation(img.Bytes); o != 1 {
				t.Fatalf("re-encoded JPEG still says orientation %d", o)
			}
		}},
		{"exif orientation 1 kept", withOrientation(plainJPEG, 1), 8, 4, ".jpg", true, "", nil},
		{"webp stored as jpeg", webp, 48, 32, ".jpg", false, "webp", func(t *testing.T, img *Image) {
			ref, _ := png.Decode(bytes.NewReader(webpRef))
			for _, p := range []image.Point{{3, 3}, {20, 10}, {40, 25}} {
				a, b := img.Pixels.NRGBAAt(p.X, p.Y), color.NRGBAModel.Convert(ref.At(p.X, p.Y)).(color.NRGBA)
				if d := int(a.R) - int(b.R) + int(a.G) - int(b.G); d > 24 || d < -24 {
					t.Fatalf("pixel %v: webp %v, png %v", p, a, b)
				}
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			img, err := Decode(tc.data, 0)
			if err != nil {
				t.Fatal(err)
			}
			if img.W != tc.w || img.H != tc.h || img.Pixels.Bounds().Dx() != tc.w {
				t.Fatalf("size %d×%d, want %d×%d", img.W, img.H, tc.w, tc.h)
			}
			if img.Ext != tc.ext {
				t.Fatalf("ext %q, want %q", img.Ext, tc.ext)
			}
			if same := bytes.Equal(img.Bytes, tc.data); same != tc.original {
				t.Fatalf("original bytes kept = %v, want %v (%s)", same, tc.original, img.Reencoded)
			}
			if !strings.Contains(img.Reencoded, tc.reencoded) {
				t.Fatalf("reencoded %q, want it to mention %q", img.Reencoded, tc.reencoded)
			}
			// What is stored decodes to the same size as what was measured.
			cfg, _, err := image.DecodeConfig(bytes.NewReader(img.Bytes))
			if err != nil || cfg.Width != tc.w || cfg.Height != tc.h {
				t.Fatalf("stored bytes decode to %d×%d (%v)", cfg.Width, cfg.Height, err)
			}
			if tc.check != nil {
				tc.check(t, img)
			}
		})
	}
}

func TestDecodeCMYK(t *testing.T) {
	c := image.NewCMYK(image.Rect(0, 0, 4, 4))
	for i := 0; i < len(c.Pix); i += 4 {
		c.Pix[i], c.Pix[i+1], c.Pix[i+2], c.Pix[i+3] = 0, 255, 255, 0 // red
	}
	img, err := finish(c, "jpeg", 1, []byte("original"))
	if err != nil {
		t.Fatal(err)
	}
	if string(img.Bytes) == "original" || img.Reencoded == "" {
		t.Fatal("a CMYK JPEG was kept as it is")
	}
	if p := img.Pixels.NRGBAAt(1, 1); p.R != 255 || p.G != 0 || p.B != 0 {
		t.Fatalf("pixel %v, want red", p)
	}
}

func TestDecodeBadInput(t *testing.T) {
	jpg := encodeJPEG(t, leftRight(256, 192))
	tests := []struct {
		name string
		data []byte
		max  int
		want string
	}{
		{"zero bytes", nil, 0, "empty file"},
		{"truncated jpeg", jpg[:len(jpg)*2/3], 0, "corrupt or truncated"},
		{"jpeg cut inside its header", jpg[:40], 0, "truncated"},
		{"not an image", []byte("hello, world"), 0, "not a readable"},
		{"decompression bomb", bombPNG(100000, 100000), 0, "100000×100000 = 10000000000 pixels, over the limit"},
		{"over a configured limit", jpg, 1000, "over the limit of 1000"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Decode(tc.data, tc.max)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want it to contain %q", err, tc.want)
			}
		})
	}
}
