// Package imgload decodes user images (JPEG, PNG, WebP) safely and into
// one shape: the header is checked before any pixel is decoded, so a
// decompression bomb costs nothing; EXIF orientation is applied; grayscale,
// CMYK, paletted and 16-bit images all come out as 8-bit NRGBA.
//
// The bytes an item carries into the dataset must show exactly the pixels
// the geometry was measured on, so an image that needed any change
// (rotation, a colour model training loaders handle badly, a format other
// than JPEG or PNG) is re-encoded; otherwise the file's own bytes are kept.
package imgload

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"io"

	"github.com/disintegration/imaging"
	_ "golang.org/x/image/webp" // registers "webp" with image.Decode
)

// DefaultMaxPixels is the largest image decoded when no limit is set:
// 64 megapixels, beyond any dataset photo (SA-1B's are ~3.4 MP).
const DefaultMaxPixels = 64 << 20

// Image is a decoded image and the bytes that represent it in the output.
type Image struct {
	Pixels *image.NRGBA
	W, H   int
	Bytes  []byte // the original file, or a re-encoding of Pixels
	Ext    string // ".jpg" or ".png"
	// Reencoded says why Bytes are not the original file, or "".
	Reencoded string
}

// Decode reads an encoded image. maxPixels ≤ 0 means DefaultMaxPixels.
// Errors say what is wrong with the file in words a user can act on.
func Decode(data []byte, maxPixels int) (*Image, error) {
	if maxPixels <= 0 {
		maxPixels = DefaultMaxPixels
	}
	if len(data) == 0 {
		return nil, fmt.Errorf("empty file (0 bytes)")
	}
	cfg, format, err := image.DecodeConfig(bytes.NewReader(data))
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return nil, fmt.Errorf("truncated: the file ends inside the image header (%d bytes)", len(data))
	}
	if err != nil {
		return nil, fmt.Errorf("not a readable JPEG, PNG or WebP header: %w", err)
	}
	if cfg.Width <= 0 || cfg.Height <= 0 {
		return nil, fmt.Errorf("header says %d×%d pixels", cfg.Width, cfg.Height)
	}
	if px := int64(cfg.Width) * int64(cfg.Height); px > int64(maxPixels) {
		return nil, fmt.Errorf("header says %d×%d = %d pixels, over the limit of %d (max_pixels); not decoded", cfg.Width, cfg.Height, px, maxPixels)
	}
	img, _, err := image.Decode(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("%s pixel data is corrupt or truncated: %w", format, err)
	}
	orient := 1
	if format == "jpeg" {
		orient = jpegOrientation(data)
	}
	return finish(img, format, orient, data)
}

// finish turns a decoded image upright and into NRGBA, and decides whether
// the original bytes can stand for it.
func finish(img image.Image, format string, orient int, data []byte) (*Image, error) {
	var err error
	out := &Image{Bytes: data, Ext: "." + format}
	if format == "jpeg" {
		out.Ext = ".jpg"
	}
	switch {
	case orient != 1:
		out.Reencoded = fmt.Sprintf("EXIF orientation %d applied", orient)
	case format != "jpeg" && format != "png":
		out.Reencoded = format + " stored as JPEG"
	case !plainModel(img.ColorModel()):
		out.Reencoded = "converted to 8-bit RGB"
	}
	out.Pixels = orient8(toNRGBA(img), orient)
	b := out.Pixels.Bounds()
	out.W, out.H = b.Dx(), b.Dy()
	if out.Reencoded != "" {
		var buf bytes.Buffer
		if format == "png" {
			err = (&png.Encoder{CompressionLevel: png.BestSpeed}).Encode(&buf, out.Pixels)
			out.Ext = ".png"
		} else {
			err = jpeg.Encode(&buf, out.Pixels, &jpeg.Options{Quality: 95})
			out.Ext = ".jpg"
		}
		if err != nil {
			return nil, fmt.Errorf("re-encoding: %w", err)
		}
		out.Bytes = buf.Bytes()
	}
	return out, nil
}

// plainModel reports whether every common loader reads images of this
// colour model as the same 8-bit RGB (16-bit and CMYK are the exceptions).
func plainModel(m color.Model) bool {
	switch m {
	case color.RGBAModel, color.NRGBAModel, color.GrayModel, color.YCbCrModel:
		return true
	}
	_, ok := m.(color.Palette)
	return ok
}

func toNRGBA(img image.Image) *image.NRGBA {
	if n, ok := img.(*image.NRGBA); ok && n.Bounds().Min == (image.Point{}) {
		return n
	}
	return imaging.Clone(img)
}

// orient8 turns an image stored with EXIF orientation o upright.
func orient8(img *image.NRGBA, o int) *image.NRGBA {
	switch o {
	case 2:
		return imaging.FlipH(img)
	case 3:
		return imaging.Rotate180(img)
	case 4:
		return imaging.FlipV(img)
	case 5:
		return imaging.Transpose(img)
	case 6:
		return imaging.Rotate270(img)
	case 7:
		return imaging.Transverse(img)
	case 8:
		return imaging.Rotate90(img)
	}
	return img
}

// jpegOrientation returns the EXIF orientation tag (1..8) of a JPEG, or 1
// when it has none or it cannot be read (a broken EXIF block is no reason
// to drop the picture).
func jpegOrientation(data []byte) int {
	if len(data) < 4 || data[0] != 0xFF || data[1] != 0xD8 {
		return 1
	}
	p := 2
	for p+4 <= len(data) {
		if data[p] != 0xFF {
			return 1
		}
		marker := data[p+1]
		if marker == 0xDA || marker == 0xD9 { // start of scan / end: no EXIF before it
			return 1
		}
		n := int(binary.BigEndian.Uint16(data[p+2:]))
		if n < 2 || p+2+n > len(data) {
			return 1
		}
		seg := data[p+4 : p+2+n]
		if marker == 0xE1 && len(seg) >= 6 && string(seg[:6]) == "Exif\x00\x00" {
			return tiffOrientation(seg[6:])
		}
		p += 2 + n
	}
	return 1
}

func tiffOrientation(t []byte) int {
	if len(t) < 8 {
		return 1
	}
	var bo binary.ByteOrder
	switch string(t[:2]) {
	case "II":
		bo = binary.LittleEndian
	case "MM":
		bo = binary.BigEndian
	default:
		return 1
	}
	ifd := int(bo.Uint32(t[4:]))
	if ifd < 8 || ifd+2 > len(t) {
		return 1
	}
	entries := int(bo.Uint16(t[ifd:]))
	for e := 0; e < entries; e++ {
		q := ifd + 2 + 12*e
		if q+12 > len(t) {
			return 1
		}
		if bo.Uint16(t[q:]) == 0x0112 {
			if o := int(bo.Uint16(t[q+8:])); o >= 1 && o <= 8 {
				return o
			}
			return 1
		}
	}
	return 1
}
