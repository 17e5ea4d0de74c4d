package sa1b

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// cocoEncode is an encoder written from the COCO format description,
// independently of EncodeCounts: column-major runs starting with zeros;
// values from the fourth on stored as differences to the value two
// before; each value as 5-bit groups, low first, 0x20 = more groups, 0x10
// in the last group = negative; every group offset by '0'.
func cocoEncode(bits []bool, w, h int) string {
	var runs []int64
	cur, n := false, int64(0)
	for x := 0; x < w; x++ {
		for y := 0; y < h; y++ {
			if bits[y*w+x] != cur {
				runs = append(runs, n)
				cur, n = !cur, 0
			}
			n++
		}
	}
	runs = append(runs, n)
	var sb strings.Builder
	for i, v := range runs {
		if i >= 3 {
			v -= runs[i-2]
		}
		for {
			group := v & 31
			v >>= 5 // arithmetic shift keeps the sign
			last := (v == 0 && group&16 == 0) || (v == -1 && group&16 != 0)
			if !last {
				group |= 32
			}
			sb.WriteByte(byte(group) + '0')
			if last {
				break
			}
		}
	}
	return sb.String()
}

func TestDecodeCountsAgainstIndependentEncoder(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	shapes := []struct {
		name string
		w, h int
		fill func(x, y int) bool
	}{
		{"empty", 7, 5, func(x, y int) bool { return false }},
		{"full", 7, 5, func(x, y int) bool { return true }},
		{"first pixel", 3, 4, func(x, y int) bool { return x == 0 && y == 0 }},
		{"last pixel", 3, 4, func(x, y int) bool { return x == 2 && y == 3 }},
		{"rectangle", 40, 30, func(x, y int) bool { return x >= 5 && x < 20 && y >= 3 && y < 25 }},
		{"disc", 64, 48, func(x, y int) bool { return (x-30)*(x-30)+(y-20)*(y-20) < 300 }},
		{"stripes", 33, 17, func(x, y int) bool { return (x/3+y/2)%2 == 0 }},
		{"noise", 50, 41, func(x, y int) bool { return rng.IntN(3) == 0 }},
		// Long runs need several 5-bit groups; differences go negative.
		{"big blob", 1500, 1100, func(x, y int) bool { return x > 100 && x < 1400 && y > y0(x) && y < 1000 }},
	}
	for _, s := range shapes {
		t.Run(s.name, func(t *testing.T) {
			bits := make([]bool, s.w*s.h)
			want := 0
			for y := 0; y < s.h; y++ {
				for x := 0; x < s.w; x++ {
					if s.fill(x, y) {
						bits[y*s.w+x] = true
						want++
					}
				}
			}
			counts := cocoEncode(bits, s.w, s.h)
			r, err := DecodeCounts(counts, s.h, s.w)
			if err != nil {
				t.Fatalf("decode %q: %v", counts, err)
			}
			if !slices.Equal(r.Bits(), bits) {
				t.Fatal("decoded mask differs from the encoded one")
			}
			if r.Area() != want {
				t.Fatalf("area %d, want %d", r.Area(), want)
			}
			if got := EncodeCounts(r.Counts); got != counts {
				t.Fatalf("EncodeCounts = %q, independent encoder %q", got, counts)
			}
			// Bounds covers exactly the set pixels' rows and columns.
			b := r.Bounds()
			for y := 0; y < s.h; y++ {
				for x := 0; x < s.w; x++ {
					if bits[y*s.w+x] && (x < b.Min.X || x >= b.Max.X || y < b.Min.Y || y >= b.Max.Y) {
						t.Fatalf("pixel (%d,%d) outside bounds %v", x, y, b)
					}
				}
			}
		})
	}
}

func y0(x int) int { return 100 + (x*7)%300 }

// A counts string worked out by hand from the format: a 3-row, 4-column
// mask with column 1 rows 1-2 and column 2 rows 1-2 set has the runs
// 4,2,1,2,3; the fourth and fifth are stored as 2-2=0 and 3-1=2.
func TestDecodeCountsKnownString(t *testing.T) {
	r, err := DecodeCounts("42102", 3, 4)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(r.Counts, []int{4, 2, 1, 2, 3}) {
		t.Fatalf("counts %v, want [4 2 1 2 3]", r.Counts)
	}
}

func TestDecodeCountsErrors(t *testing.T) {
	tests := []struct {
		name, counts string
		h, w         int
		want         string
	}{
		{"overflow", cocoEncode(make([]bool, 100), 10, 10), 5, 5, "more than the 5×5 = 25 pixels"},
		{"short", "5", 3, 3, "add up to 5 pixels, the 3×3 mask has 9"},
		{"bad byte", "4 1", 3, 3, "not a counts character"},
		{"cut value", "4h", 3, 3, "end inside a value"},
		{"negative run", "0" + string(rune('0'+0x10|0x01)), 3, 3, "negative length"},
		{"too long", strings.Repeat("o", 20) + "0", 3, 3, "too long"},
		{"zero size", "", 0, 3, "want positive"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodeCounts(tc.counts, tc.h, tc.w)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

// FuzzDecodeCounts: no input makes the decoder panic or accept counts
// that do not tile the mask, and what it accepts re-encodes to itself.
// Seed corpus: testdata/fuzz/FuzzDecodeCounts.
func FuzzDecodeCounts(f *testing.F) {
	f.Add("42102", 3, 4)
	f.Add(cocoEncode(make([]bool, 12), 4, 3), 3, 4)
	f.Fuzz(func(t *testing.T, s string, h, w int) {
		if h <= 0 || w <= 0 || h > 1<<12 || w > 1<<12 {
			return
		}
		r, err := DecodeCounts(s, h, w)
		if err != nil {
			return
		}
		sum := 0
		for _, c := range r.Counts {
			if c < 0 {
				t.Fatalf("negative count in %v", r.Counts)
			}
			sum += c
		}
		if sum != h*w {
			t.Fatalf("accepted counts summing to %d for %d×%d", sum, h, w)
		}
		r2, err := DecodeCounts(EncodeCounts(r.Counts), h, w)
		if err != nil || !slices.Equal(r2.Counts, r.Counts) {
			t.Fatalf("re-encoding %v does not round-trip: %v", r.Counts, err)
		}
		_ = r.Bounds()
	})
}

// FromBits writes a row-major mask as SA-1B's column-major runs, starting
// with background; Bits reads it back.
func TestFromBits(t *testing.T) {
	tests := []struct {
		name   string
		bits   []bool // 3 wide, 2 high
		counts []int
	}{
		{"empty", []bool{false, false, false, false, false, false}, []int{6}},
		{"full", []bool{true, true, true, true, true, true}, []int{0, 6}},
		// Columns: (0: on, off), (1: on, on), (2: off, on).
		{"diagonal band", []bool{true, true, false, false, true, true}, []int{0, 1, 1, 2, 1, 1}},
	}
	for _, tc := range tests {
		r := FromBits(tc.bits, 3, 2)
		if !slices.Equal(r.Counts, tc.counts) {
			t.Errorf("%s: counts %v, want %v", tc.name, r.Counts, tc.counts)
		}
		if !slices.Equal(r.Bits(), tc.bits) {
			t.Errorf("%s: read back %v", tc.name, r.Bits())
		}
	}
}
