package preview

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	_ "image/jpeg" // dataset images may be JPEG
	"image/png"
	"math"
	"regexp"
	"strings"

	xdraw "golang.org/x/image/draw"
	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"

	"github.com/boostgen/boostgen/gen/dataset"
	"github.com/boostgen/boostgen/internal/blob"
)

// PNG cards: the anchor view with the page's overlays drawn in, and the
// conversation beside it, for reports that cannot embed HTML. Text uses
// basicfont's 7×13 bitmap face (ASCII; a few typographic characters are
// replaced), so the cards need no font files.

var (
	colA      = color.RGBA{0xff, 0xb0, 0x00, 0xff}
	colB      = color.RGBA{0x00, 0xc8, 0xff, 0xff}
	colWhite  = color.RGBA{0xff, 0xff, 0xff, 0xff}
	colBlack  = color.RGBA{0x00, 0x00, 0x00, 0xff}
	colPanel  = color.RGBA{0x1d, 0x24, 0x30, 0xff}
	colText   = color.RGBA{0xe8, 0xea, 0xee, 0xff}
	colMuted  = color.RGBA{0x98, 0xa2, 0xb3, 0xff}
	colAnswer = color.RGBA{0xb8, 0xd8, 0xff, 0xff}
	axisCols  = map[string]color.RGBA{"x": {0xff, 0x4d, 0x4d, 0xff}, "y": {0x3d, 0xdc, 0x84, 0xff}, "z": {0x4d, 0x8d, 0xff, 0xff}}
)

const (
	cardPanelW  = 540
	cardLineH   = 14
	cardPad     = 10
	cardHeaderH = 24
)

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// writeCard draws e's card, from the images already copied to out, and
// returns its key in out.
func writeCard(ctx context.Context, out *blob.Local, e *dataset.Entry, ov *Overlay) (string, error) {
	var views []image.Image
	for _, key := range e.Images() {
		raw, err := blob.ReadAll(ctx, out, key)
		if err != nil {
			return "", err
		}
		src, _, err := image.Decode(bytes.NewReader(raw))
		if err != nil {
			return "", fmt.Errorf("image %s: %w", key, err)
		}
		views = append(views, src)
	}
	img := Card(views, e, ov)
	rel := CardsDir + "/" + unsafeName.ReplaceAllString(e.Record.ID, "_") + ".png"
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return "", err
	}
	return rel, blob.Put(ctx, out, rel, buf.Bytes())
}

// Card draws a record's card: header, the anchor view with overlays, the
// other views as thumbnails below it, and the conversation panel. views are
// the record's images in order.
func Card(views []image.Image, e *dataset.Entry, ov *Overlay) *image.RGBA {
	anchor := e.Record.Meta.Frame.AnchorView
	src := views[anchor]
	sb := src.Bounds()
	iw, ih := sb.Dx(), sb.Dy()
	lines := cardText(e, (cardPanelW-2*cardPad)/7)
	// Thumbnails: four to a row, each a quarter of the view's width.
	thumbW := iw / 4
	thumbH := thumbW * ih / max(iw, 1)
	rows := 0
	if len(views) > 1 {
		rows = (len(views) + 3) / 4
	}
	thumbsH := rows * (thumbH + 18)
	h := max(ih+thumbsH, len(lines)*cardLineH+2*cardPad) + cardHeaderH
	img := image.NewRGBA(image.Rect(0, 0, iw+cardPanelW, h))
	draw.Draw(img, img.Bounds(), image.NewUniform(colPanel), image.Point{}, draw.Src)

	// Header: id and the first badges.
	head := e.Record.ID
	for _, b := range badges(&e.Record, len(e.Images())) {
		head += "  |  " + b.Text
	}
	drawText(img, cardPad, 17, ascii(head), colText, false)

	// The view and its overlays, in image coordinates offset by the header.
	view := image.NewRGBA(image.Rect(0, 0, iw, ih))
	draw.Draw(view, view.Bounds(), src, sb.Min, draw.Src)
	drawOverlay(view, ov, float64(iw)/float64(max(ov.W, 1)), float64(ih)/float64(max(ov.H, 1)))
	draw.Draw(img, image.Rect(0, cardHeaderH, iw, cardHeaderH+ih), view, image.Point{}, draw.Src)

	for k, v := range views {
		if rows == 0 {
			break
		}
		x0, y0 := (k%4)*thumbW, cardHeaderH+ih+(k/4)*(thumbH+18)+16
		r := image.Rect(x0+2, y0, x0+thumbW-2, y0+thumbH)
		xdraw.ApproxBiLinear.Scale(img, r, v, v.Bounds(), xdraw.Src, nil)
		label, col := fmt.Sprintf("view %d", k+1), colMuted
		if k == anchor {
			label, col = label+" (anchor)", colA
			drawRect(img, float64(r.Min.X), float64(r.Min.Y), float64(r.Max.X), float64(r.Max.Y), 2, colA, 0)
		}
		drawText(img, x0+4, y0-4, label, col, false)
	}

	y := cardHeaderH + cardPad + 10
	for _, l := range lines {
		drawText(img, iw+cardPad, y, l.text, l.col, false)
		y += cardLineH
	}
	return img
}

type textLine struct {
	text string
	col  color.RGBA
}

func cardText(e *dataset.Entry, width int) []textLine {
	var out []textLine
	add := func(s string, col color.RGBA, indent string) {
		for _, l := range wrap(ascii(s), width-len(indent)) {
			out = append(out, textLine{indent + l, col})
		}
	}
	for _, t := range turns(&e.Record) {
		if t.Missing {
			add(fmt.Sprintf("-- %s/%s: %s", t.Level, t.Kind, t.Truth), colMuted, "")
			continue
		}
		add(fmt.Sprintf("Q%d [%s/%s] %s", t.N, t.Level, t.Kind, t.Q), colText, "")
		add(t.A, colAnswer, "   ")
		if t.Truth != "" {
			add(t.Truth, colMuted, "   ")
		}
	}
	return out
}

var asciiReplacer = strings.NewReplacer("’", "'", "‘", "'", "“", "\"", "”", "\"", "×", "x", "°", " deg", "–", "-", "—", "-", "·", "|", "…", "...", "→", "->", "²", "^2", "³", "^3")

func ascii(s string) string { return asciiReplacer.Replace(s) }

// wrap breaks s into lines of at most width characters at spaces.
func wrap(s string, width int) []string {
	width = max(width, 10)
	var out []string
	for _, para := range strings.Split(s, "\n") {
		line := ""
		for _, w := range strings.Fields(para) {
			for len([]rune(w)) > width {
				if line != "" {
					out, line = append(out, line), ""
				}
				r := []rune(w)
				out, w = append(out, string(r[:width])), string(r[width:])
			}
			switch {
			case line == "":
				line = w
			case len([]rune(line))+1+len([]rune(w)) <= width:
				line += " " + w
			default:
				out, line = append(out, line), w
			}
		}
		if line != "" || len(out) == 0 {
			out = append(out, line)
		}
	}
	return out
}

func drawText(img *image.RGBA, x, y int, s string, col color.RGBA, halo bool) {
	if halo {
		for _, d := range [][2]int{{-1, -1}, {0, -1}, {1, -1}, {-1, 0}, {1, 0}, {-1, 1}, {0, 1}, {1, 1}} {
			dr := &font.Drawer{Dst: img, Src: image.NewUniform(colBlack), Face: basicfont.Face7x13, Dot: fixed.P(x+d[0], y+d[1])}
			dr.DrawString(s)
		}
	}
	dr := &font.Drawer{Dst: img, Src: image.NewUniform(col), Face: basicfont.Face7x13, Dot: fixed.P(x, y)}
	dr.DrawString(s)
}

func objColor(ref string) color.RGBA {
	if ref == "B" {
		return colB
	}
	return colA
}

// drawOverlay draws ov onto view, scaling image coordinates by sx, sy.
func drawOverlay(view *image.RGBA, ov *Overlay, sx, sy float64) {
	for _, a := range ov.Axes {
		col := axisCols[a.Name]
		drawLine(view, a.X1*sx, a.Y1*sy, a.X2*sx, a.Y2*sy, 2.5, col, 0)
		drawText(view, int(a.X2*sx)+4, int(a.Y2*sy)-4, a.Name, col, true)
	}
	for _, o := range ov.Objects {
		col := objColor(o.Ref)
		drawRect(view, o.Box[0]*sx, o.Box[1]*sy, o.Box[2]*sx, o.Box[3]*sy, 1.5, col, 6)
		for _, e := range o.Edges {
			drawLine(view, e.X1*sx, e.Y1*sy, e.X2*sx, e.Y2*sy, 2.2, col, 0)
		}
	}
	for _, o := range ov.Objects {
		text := ascii(o.Ref + " | " + o.Name)
		drawText(view, int(labelX(o.Box[0]*sx, text, 7, float64(view.Bounds().Dx()))), int(math.Max(o.Box[1]*sy-5, 13)), text, objColor(o.Ref), true)
	}
	for _, p := range ov.Points {
		x, y := p.X*sx, p.Y*sy
		fillDisk(view, x, y, 6, colWhite)
		fillDisk(view, x, y, 4.5, objColor(p.Object))
		drawText(view, int(p.LX*sx), int(p.LY*sy), p.Name, colWhite, true)
	}
}

// drawLine draws a segment of the given width, dashed with dash-long dashes
// and gaps when dash > 0, clipped to the image first (projected edges can
// reach far outside it).
func drawLine(img *image.RGBA, x0, y0, x1, y1, width float64, col color.RGBA, dash float64) {
	b := img.Bounds()
	x0, y0, x1, y1, ok := clipSegment(x0, y0, x1, y1, float64(b.Min.X)-width, float64(b.Min.Y)-width, float64(b.Max.X)+width, float64(b.Max.Y)+width)
	if !ok {
		return
	}
	length := math.Hypot(x1-x0, y1-y0)
	steps := int(math.Ceil(length*2)) + 1
	for k := 0; k <= steps; k++ {
		t := float64(k) / float64(steps)
		if dash > 0 && int(t*length/dash)%2 == 1 {
			continue
		}
		fillDisk(img, x0+t*(x1-x0), y0+t*(y1-y0), width/2, col)
	}
}

// drawRect draws the outline of the rectangle with corners (x0, y0) and
// (x1, y1) with drawLine, clockwise from (x0, y0).
func drawRect(img *image.RGBA, x0, y0, x1, y1, width float64, col color.RGBA, dash float64) {
	for _, l := range [][4]float64{{x0, y0, x1, y0}, {x1, y0, x1, y1}, {x1, y1, x0, y1}, {x0, y1, x0, y0}} {
		drawLine(img, l[0], l[1], l[2], l[3], width, col, dash)
	}
}

// clipSegment is Liang–Barsky clipping to [xmin, xmax] × [ymin, ymax].
func clipSegment(x0, y0, x1, y1, xmin, ymin, xmax, ymax float64) (float64, float64, float64, float64, bool) {
	t0, t1 := 0.0, 1.0
	dx, dy := x1-x0, y1-y0
	for _, pq := range [][2]float64{{-dx, x0 - xmin}, {dx, xmax - x0}, {-dy, y0 - ymin}, {dy, ymax - y0}} {
		p, q := pq[0], pq[1]
		if p == 0 {
			if q < 0 {
				return 0, 0, 0, 0, false
			}
			continue
		}
		r := q / p
		if p < 0 {
			t0 = math.Max(t0, r)
		} else {
			t1 = math.Min(t1, r)
		}
		if t0 > t1 {
			return 0, 0, 0, 0, false
		}
	}
	return x0 + t0*dx, y0 + t0*dy, x0 + t1*dx, y0 + t1*dy, true
}

// fillDisk paints the pixels whose centers lie within r of (cx, cy), in
// image coordinates (pixel (i, j) has its center at (i+0.5, j+0.5)).
func fillDisk(img *image.RGBA, cx, cy, r float64, col color.RGBA) {
	b := img.Bounds()
	r = math.Max(r, 0.6)
	for j := int(math.Floor(cy - r)); j <= int(math.Ceil(cy+r)); j++ {
		for i := int(math.Floor(cx - r)); i <= int(math.Ceil(cx+r)); i++ {
			if !(image.Point{i, j}).In(b) {
				continue
			}
			if dx, dy := float64(i)+0.5-cx, float64(j)+0.5-cy; dx*dx+dy*dy <= r*r {
				img.SetRGBA(i, j, col)
			}
		}
	}
}
