// Package imgprep turns images into the planar float tensors the ONNX
// models take, and maps dense model outputs back onto the original image.
// All resampling goes through github.com/disintegration/imaging.
package imgprep

import (
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"math"

	"github.com/disintegration/imaging"
)

// Fit says how an image of any aspect is put on a model input of fixed size.
type Fit int

const (
	// Stretch resizes the whole image to the input size, ignoring aspect
	// (what Depth-Pro's own inference does). Every input pixel comes from
	// the image, and mapping back is a plain resize.
	Stretch Fit = iota
	// Pad resizes the image to fit inside the input, keeping aspect, and
	// centres it on a plain background (VGGT's "pad" mode).
	Pad
	// CenterCrop resizes the short side to the input and crops the middle
	// (CLIP's preprocessing); the cut-off borders are not seen.
	CenterCrop
)

// ParseFit reads "stretch", "pad" or "crop".
func ParseFit(s string) (Fit, error) {
	switch s {
	case "stretch":
		return Stretch, nil
	case "pad":
		return Pad, nil
	case "crop", "center_crop":
		return CenterCrop, nil
	}
	return 0, fmt.Errorf("unknown resize mode %q (want stretch, pad or crop)", s)
}

// Norm is the per-channel normalisation applied after scaling bytes to
// [0,1]: (x - Mean) / Std.
type Norm struct{ Mean, Std [3]float32 }

// Common normalisations.
var (
	Unit      = Norm{Mean: [3]float32{0, 0, 0}, Std: [3]float32{1, 1, 1}}       // [0,1]
	Symmetric = Norm{Mean: [3]float32{.5, .5, .5}, Std: [3]float32{.5, .5, .5}} // [-1,1]
	// ImageNet is torchvision's mean/std (SAM 2).
	ImageNet = Norm{
		Mean: [3]float32{0.485, 0.456, 0.406},
		Std:  [3]float32{0.229, 0.224, 0.225},
	}
	OpenAICLIP = Norm{
		Mean: [3]float32{0.48145466, 0.4578275, 0.40821073},
		Std:  [3]float32{0.26862954, 0.26130258, 0.27577711},
	}
)

// Placement records where the original image landed on the model input, so
// that dense outputs can be mapped back.
type Placement struct {
	SrcW, SrcH int // original image size
	DstW, DstH int // model input size
	// The image covers [X, X+W) x [Y, Y+H) of the model input (for Pad a
	// centred box, for Stretch the whole input).
	X, Y, W, H int
}

// Input resizes img to w x h as fit says and returns it as a planar RGB
// float32 slice of 3*w*h values (CHW), normalised by n. pad is the
// background value in [0,1] for Pad.
func Input(img image.Image, w, h int, fit Fit, n Norm, pad float32) ([]float32, Placement) {
	b := img.Bounds()
	p := Placement{SrcW: b.Dx(), SrcH: b.Dy(), DstW: w, DstH: h, W: w, H: h}
	var rgba *image.NRGBA
	switch fit {
	case Pad:
		s := math.Min(float64(w)/float64(p.SrcW), float64(h)/float64(p.SrcH))
		p.W = max(1, min(w, int(math.Round(float64(p.SrcW)*s))))
		p.H = max(1, min(h, int(math.Round(float64(p.SrcH)*s))))
		p.X, p.Y = (w-p.W)/2, (h-p.H)/2
		v := uint8(math.Round(float64(pad) * 255))
		rgba = imaging.New(w, h, color.NRGBA{v, v, v, 255})
		small := imaging.Resize(img, p.W, p.H, imaging.Linear)
		draw.Draw(rgba, image.Rect(p.X, p.Y, p.X+p.W, p.Y+p.H), small, image.Point{}, draw.Src)
	case CenterCrop:
		// Bicubic, as CLIP's torchvision transform.
		rgba = imaging.Fill(img, w, h, imaging.Center, imaging.CatmullRom)
	default:
		rgba = imaging.Resize(img, w, h, imaging.Linear)
	}
	out := make([]float32, 3*w*h)
	plane := w * h
	var scale [3]float32
	var shift [3]float32
	for c := range 3 {
		scale[c] = 1 / (255 * n.Std[c])
		shift[c] = n.Mean[c] / n.Std[c]
	}
	for y := range h {
		row := rgba.Pix[y*rgba.Stride : y*rgba.Stride+4*w]
		for x := range w {
			i := y*w + x
			px := row[4*x : 4*x+4]
			// Transparent pixels count as black, as after an RGB convert.
			a := float32(px[3]) / 255
			out[i] = float32(px[0])*a*scale[0] - shift[0]
			out[plane+i] = float32(px[1])*a*scale[1] - shift[1]
			out[2*plane+i] = float32(px[2])*a*scale[2] - shift[2]
		}
	}
	return out, p
}

// Back maps a dense model output of ch interleaved channels per pixel
// (row-major, DstW x DstH, e.g. depth with ch=1 or xyz with ch=3) to the
// original image size, bilinearly, reading only the part of the input the
// image covered.
func (p Placement) Back(src []float32, ch int) []float32 {
	out := make([]float32, p.SrcW*p.SrcH*ch)
	sx := float64(p.W) / float64(p.SrcW)
	sy := float64(p.H) / float64(p.SrcH)
	for y := range p.SrcH {
		v := float64(p.Y) + (float64(y)+0.5)*sy - 0.5
		y0, fy := split(v, p.Y, p.Y+p.H-1)
		y1 := min(y0+1, p.Y+p.H-1)
		for x := range p.SrcW {
			u := float64(p.X) + (float64(x)+0.5)*sx - 0.5
			x0, fx := split(u, p.X, p.X+p.W-1)
			x1 := min(x0+1, p.X+p.W-1)
			for c := range ch {
				a := src[(y0*p.DstW+x0)*ch+c]
				b := src[(y0*p.DstW+x1)*ch+c]
				cc := src[(y1*p.DstW+x0)*ch+c]
				d := src[(y1*p.DstW+x1)*ch+c]
				top := float64(a) + (float64(b)-float64(a))*fx
				bot := float64(cc) + (float64(d)-float64(cc))*fx
				out[(y*p.SrcW+x)*ch+c] = float32(top + (bot-top)*fy)
			}
		}
	}
	return out
}

// split clamps a sample coordinate to [lo, hi] and returns its integer
// cell and the fraction towards the next.
func split(v float64, lo, hi int) (int, float64) {
	if v <= float64(lo) {
		return lo, 0
	}
	if v >= float64(hi) {
		return hi, 0
	}
	i := int(math.Floor(v))
	return i, v - float64(i)
}
