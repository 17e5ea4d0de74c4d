// Package sa1b reads Segment Anything's SA-1B dataset: images with a JSON
// file of automatically generated masks, as the published tar shards hold
// them (sa_N.jpg beside sa_N.json) or as an extracted folder.
//
// Masks are COCO "compressed RLE": run lengths of a column-major bitmap,
// starting with a run of zeros, written as a string. The decoder here is
// our own (no cgo pycocotools); it rejects counts that do not add up to
// the image, so a corrupt annotation is an error, never a wild write.
package sa1b

import (
	"fmt"
	"image"
)

// RLE is a decoded run-length mask: Counts alternate background and
// foreground runs over the H×W pixels in column-major order (down each
// column, then the next column), starting with background.
type RLE struct {
	H, W   int
	Counts []int
}

// maxCountChunks bounds one value's 5-bit chunks: 13 chunks hold 65 bits,
// more than any int64 a valid file can carry.
const maxCountChunks = 13

// DecodeCounts decodes a COCO compressed-RLE counts string for an h×w mask
// (pycocotools' rleFrString). Each value is little-endian 5-bit groups
// offset by '0', 0x20 marking that another group follows and 0x10 in the
// last group the sign; from the fourth value on, each is stored as the
// difference to the value two places before it.
func DecodeCounts(s string, h, w int) (*RLE, error) {
	if h <= 0 || w <= 0 {
		return nil, fmt.Errorf("rle: size %d×%d: want positive height and width", h, w)
	}
	total := int64(h) * int64(w)
	var counts []int
	var sum int64
	for p := 0; p < len(s); {
		var x int64
		k := 0
		for more := true; more; {
			if p >= len(s) {
				return nil, fmt.Errorf("rle: counts end inside a value (position %d)", p)
			}
			c := int64(s[p]) - 48
			if c < 0 || c > 63 {
				return nil, fmt.Errorf("rle: byte %q at position %d is not a counts character", s[p], p)
			}
			if k >= maxCountChunks {
				return nil, fmt.Errorf("rle: value at position %d is too long", p)
			}
			x |= (c & 0x1f) << (5 * k)
			more = c&0x20 != 0
			p++
			k++
			if !more && c&0x10 != 0 {
				x |= -1 << (5 * k)
			}
		}
		if m := len(counts); m > 2 {
			x += int64(counts[m-2])
		}
		if x < 0 {
			return nil, fmt.Errorf("rle: run %d has negative length %d", len(counts), x)
		}
		sum += x
		if sum > total {
			return nil, fmt.Errorf("rle: counts add up to more than the %d×%d = %d pixels of the mask (run %d)", h, w, total, len(counts))
		}
		counts = append(counts, int(x))
	}
	if sum != total {
		return nil, fmt.Errorf("rle: counts add up to %d pixels, the %d×%d mask has %d", sum, h, w, total)
	}
	return &RLE{H: h, W: w, Counts: counts}, nil
}

// EncodeCounts is the inverse of DecodeCounts (pycocotools' rleToString);
// boostgen uses it to write test fixtures and example annotations.
func EncodeCounts(counts []int) string {
	var b []byte
	for i := range counts {
		x := int64(counts[i])
		if i > 2 {
			x -= int64(counts[i-2])
		}
		for more := true; more; {
			c := byte(x & 0x1f)
			x >>= 5
			if c&0x10 != 0 {
				more = x != -1
			} else {
				more = x != 0
			}
			if more {
				c |= 0x20
			}
			b = append(b, c+48)
		}
	}
	return string(b)
}

// FromBits encodes a row-major mask (index y*w+x) as an RLE, column-major
// as SA-1B's are.
func FromBits(bits []bool, w, h int) *RLE {
	r := &RLE{H: h, W: w}
	on, run := false, 0
	for x := range w {
		for y := range h {
			if bits[y*w+x] != on {
				r.Counts = append(r.Counts, run)
				on, run = !on, 0
			}
			run++
		}
	}
	r.Counts = append(r.Counts, run)
	return r
}

// Foreground calls fn for each foreground run: start is the column-major
// index of its first pixel and n its length.
func (r *RLE) Foreground(fn func(start, n int)) {
	p := 0
	for i, c := range r.Counts {
		if i%2 == 1 && c > 0 {
			fn(p, c)
		}
		p += c
	}
}

// Area is the number of foreground pixels.
func (r *RLE) Area() int {
	a := 0
	for i := 1; i < len(r.Counts); i += 2 {
		a += r.Counts[i]
	}
	return a
}

// Bounds is the foreground's bounding rectangle in image pixels (empty for
// an empty mask).
func (r *RLE) Bounds() image.Rectangle {
	var b image.Rectangle
	r.Foreground(func(start, n int) {
		x0, y0 := start/r.H, start%r.H
		end := start + n - 1
		x1, y1 := end/r.H, end%r.H
		if x1 > x0 { // the run wraps into later columns: it touches row 0 and row H-1
			y0, y1 = 0, r.H-1
		}
		b = b.Union(image.Rect(x0, min(y0, y1), x1+1, max(y0, y1)+1))
	})
	return b
}

// Bits returns the mask row-major (index y*W+x), for tests and small masks.
func (r *RLE) Bits() []bool {
	out := make([]bool, r.H*r.W)
	r.Foreground(func(start, n int) {
		for p := start; p < start+n; p++ {
			out[(p%r.H)*r.W+p/r.H] = true
		}
	})
	return out
}
