package preview

import (
	"fmt"
	"math"
	"sort"
	"strings"

	"github.com/boostgen/boostgen/gen"
	"github.com/boostgen/boostgen/gen/dataset"
	"github.com/boostgen/boostgen/templates"
)

// cardView is one record as the page template sees it.
type cardView struct {
	ID       string
	Anchor   imageView
	Views    []imageView // every view, anchor included, when there are several
	Badges   []Badge
	Turns    []turnView
	Objects  []objectRow
	Skipped  []gen.SkippedObject
	Problems []string
	PNG      string // relative path of the PNG card, "" when none
	Where    string
	overlay  *Overlay
	Ov       overlayView
}

type imageView struct {
	Src    string
	Label  string
	Anchor bool
}

type turnView struct {
	N       int // 1-based question number; 0 when missing
	Level   string
	Kind    string
	Q, A    string
	Images  int // <image> tokens stripped from the question
	Truth   string
	Verdict string // "true", "false" or "" for non-predicates
	Missing bool
}

type objectRow struct {
	Ref, Name, Label string
	Center, Size     string
	Yaw              string
	Points           int
	Occluded         string
}

// overlayView is the overlay with numbers formatted for SVG.
type overlayView struct {
	W, H    int
	Font    float64
	Radius  float64
	Axes    []svgLine
	Objects []svgObject
	Points  []svgPoint
}

type svgLine struct{ X1, Y1, X2, Y2, LX, LY, Name string }

type svgObject struct {
	Ref, Name              string
	BX, BY, BW, BH, TX, TY string
	Edges                  []svgLine
}

type svgPoint struct{ Name, Object, X, Y, LX, LY, Title string }

func num(f float64) string {
	if math.Abs(f) > 1e6 { // far outside: the SVG viewport clips it anyway
		f = math.Copysign(1e6, f)
	}
	return fmt.Sprintf("%.2f", f)
}

func newCardView(e *dataset.Entry) (cardView, error) {
	rec := &e.Record
	ov, err := BuildOverlay(rec)
	if err != nil {
		return cardView{}, err
	}
	images := e.Images()
	if len(images) == 0 {
		return cardView{}, fmt.Errorf("record has no image")
	}
	for _, k := range images {
		if err := checkKey(k); err != nil {
			return cardView{}, err
		}
	}
	fr := rec.Meta.Frame
	if fr.AnchorView < 0 || fr.AnchorView >= len(images) {
		return cardView{}, fmt.Errorf("meta.frame.anchor_view %d: the record has %d images", fr.AnchorView, len(images))
	}
	cv := cardView{ID: rec.ID, Where: e.Where(), overlay: ov, Problems: ov.Problems, Skipped: rec.Meta.SkippedObjects}
	cv.Anchor = imageView{Src: images[fr.AnchorView], Label: fmt.Sprintf("view %d", fr.AnchorView+1), Anchor: true}
	if len(images) > 1 {
		for k, src := range images {
			cv.Views = append(cv.Views, imageView{Src: src, Label: fmt.Sprintf("view %d", k+1), Anchor: k == fr.AnchorView})
		}
	}
	cv.Badges = badges(rec, len(images))
	cv.Badges = append(cv.Badges, extraBadges(e.Meta)...)
	cv.Turns = turns(rec)
	for _, o := range rec.Meta.Objects {
		cv.Objects = append(cv.Objects, objectRow{
			Ref: o.Ref, Name: o.Name, Label: o.Label,
			Center: vec(o.Cube.Center), Size: vec(o.Cube.Size), Yaw: fmt.Sprintf("%.0f°", o.Cube.YawDeg),
			Points: o.Points, Occluded: fmt.Sprintf("%.0f%%", 100*o.OccludedShare),
		})
	}
	cv.Ov = formatOverlay(ov)
	return cv, nil
}

func formatOverlay(ov *Overlay) overlayView {
	scale := math.Max(float64(ov.W), float64(ov.H)) / 640
	v := overlayView{W: ov.W, H: ov.H, Font: math.Round(14*scale*10) / 10, Radius: math.Round(5*scale*10) / 10}
	for _, a := range ov.Axes {
		v.Axes = append(v.Axes, svgLine{X1: num(a.X1), Y1: num(a.Y1), X2: num(a.X2), Y2: num(a.Y2),
			LX: num(a.X2 + 4*scale), LY: num(a.Y2 - 4*scale), Name: a.Name})
	}
	for _, o := range ov.Objects {
		so := svgObject{Ref: o.Ref, Name: o.Name,
			BX: num(o.Box[0]), BY: num(o.Box[1]), BW: num(o.Box[2] - o.Box[0]), BH: num(o.Box[3] - o.Box[1]),
			TX: num(labelX(o.Box[0], o.Ref+" · "+o.Name, 14*scale*0.62, float64(ov.W))), TY: num(math.Max(o.Box[1]-5*scale, 14*scale))}
		for _, l := range o.Edges {
			so.Edges = append(so.Edges, svgLine{X1: num(l.X1), Y1: num(l.Y1), X2: num(l.X2), Y2: num(l.Y2)})
		}
		v.Objects = append(v.Objects, so)
	}
	for _, p := range ov.Points {
		v.Points = append(v.Points, svgPoint{Name: p.Name, Object: p.Object, X: num(p.X), Y: num(p.Y),
			LX: num(p.LX), LY: num(p.LY),
			Title: fmt.Sprintf("%s (%.3f, %.3f) on %s, depth %.3f m", p.Name, p.X/float64(ov.W), p.Y/float64(ov.H), p.Object, p.DepthM)})
	}
	return v
}

func vec(v []float64) string {
	parts := make([]string, len(v))
	for k, x := range v {
		parts[k] = fmt.Sprintf("%.3f", x)
	}
	return "(" + strings.Join(parts, ", ") + ")"
}

func badges(rec *gen.Record, views int) []Badge {
	m := rec.Meta
	var out []Badge
	switch m.Frame.Kind {
	case "floor":
		out = append(out, Badge{Text: fmt.Sprintf("floor frame · camera %.2f m up", m.Frame.CameraHeightM), Class: "good",
			Title: fmt.Sprintf("canonical frame from the fitted floor (%d inlier points); z up, origin on the floor below the camera", m.Frame.FloorInliers)})
	case "camera":
		out = append(out, Badge{Text: "camera frame (no floor)", Class: "bad", Title: "no floor was found: answers are in the camera's own axes"})
	default:
		out = append(out, Badge{Text: "frame " + m.Frame.Kind})
	}
	if views > 1 {
		out = append(out, Badge{Text: fmt.Sprintf("%d views · anchor %d", views, m.Frame.AnchorView+1), Title: "pixel turns and overlays refer to the anchor view"})
	} else {
		out = append(out, Badge{Text: "1 view"})
	}
	if m.Order != "" {
		out = append(out, Badge{Text: "order " + m.Order})
	}
	if m.Source.Kind != "" {
		out = append(out, Badge{Text: m.Source.Kind + " #" + fmt.Sprint(m.Source.Index), Title: "source item " + m.Source.Item})
	}
	missing := 0
	for _, t := range m.Turns {
		if t.Missing {
			missing++
		}
	}
	if missing > 0 {
		out = append(out, Badge{Text: fmt.Sprintf("%d turns missing", missing), Class: "bad", Title: "left for a later stage (the LLM caption stage)"})
	}
	if n := len(m.SkippedObjects); n > 0 {
		var why []string
		for _, s := range m.SkippedObjects {
			why = append(why, fmt.Sprintf("%d %s: %s", s.ID, s.Label, s.Reason))
		}
		out = append(out, Badge{Text: fmt.Sprintf("%d skipped %s", n, plural(n, "object", "objects")), Title: strings.Join(why, "\n")})
	}
	return out
}

// turns pairs the conversation with the turns in meta, by index; turns
// left missing are listed where the planner put them.
func turns(rec *gen.Record) []turnView {
	conv := rec.Conversations
	var out []turnView
	used := map[int]bool{}
	for _, t := range rec.Meta.Turns {
		tv := turnView{N: t.Index, Level: t.Level, Kind: t.Kind, Missing: t.Missing}
		if t.Missing {
			tv.Truth = "left for a later stage (LLM captions)"
			out = append(out, tv)
			continue
		}
		k := 2 * (t.Index - 1)
		if k >= 0 && k+1 < len(conv) {
			tv.Q, tv.Images = stripImages(conv[k].Value)
			tv.A = conv[k+1].Value
			used[k] = true
		}
		tv.Truth, tv.Verdict = truth(t)
		out = append(out, tv)
	}
	// Turns meta does not describe (a later stage's additions) still show.
	for k := 0; k+1 < len(conv); k += 2 {
		if used[k] {
			continue
		}
		tv := turnView{N: k/2 + 1, Level: "other", Kind: "unlisted"}
		tv.Q, tv.Images = stripImages(conv[k].Value)
		tv.A = conv[k+1].Value
		out = append(out, tv)
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Missing || out[j].Missing {
			return false
		}
		return out[i].N < out[j].N
	})
	return out
}

func stripImages(q string) (string, int) {
	n := strings.Count(q, "<image>")
	q = strings.ReplaceAll(q, "<image>\n", "")
	q = strings.ReplaceAll(q, "<image>", "")
	return strings.TrimSpace(q), n
}

// truth states the structured value behind a turn.
func truth(t templates.Turn) (text, verdict string) {
	margin := ""
	if t.MarginM != nil {
		margin = fmt.Sprintf(" · margin %.3f m", *t.MarginM)
	}
	switch v := t.Value.(type) {
	case bool:
		verdict = fmt.Sprint(v)
		return fmt.Sprintf("%s(%s, %s) = %v%s", t.Kind, t.Args["a"], t.Args["b"], v, margin), verdict
	case float64:
		switch t.Kind {
		case "depth":
			return fmt.Sprintf("depth(%s) = %.3f %s", t.Args["point"], v, t.Unit), ""
		case "distance":
			s := fmt.Sprintf("distance(%s, %s) = %.3f %s", t.Args["a"], t.Args["b"], v, t.Unit)
			if x, ok := t.Extra["closest_m"].(float64); ok {
				s += fmt.Sprintf(" · closest %.3f m", x)
			}
			if x, ok := t.Extra["direction_oclock"]; ok {
				s += fmt.Sprintf(" · %v o'clock", x)
			}
			return s, ""
		}
		return fmt.Sprintf("%s = %.3f %s", t.Kind, v, t.Unit), ""
	case map[string]any:
		if t.Kind == "cube" {
			return fmt.Sprintf("cube(%s): center %s size %s yaw %v°", t.Args["object"], anyVec(v["center"]), anyVec(v["size"]), v["yaw_deg"]), ""
		}
	}
	if t.Value == nil {
		return "", ""
	}
	return fmt.Sprintf("%s = %v", t.Kind, t.Value), ""
}

func anyVec(v any) string {
	list, ok := v.([]any)
	if !ok {
		return fmt.Sprint(v)
	}
	f := make([]float64, 0, len(list))
	for _, x := range list {
		if n, ok := x.(float64); ok {
			f = append(f, n)
		}
	}
	return vec(f)
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// labelX keeps a label that starts at x inside an image of width w, given
// the average glyph width.
func labelX(x float64, text string, glyph, w float64) float64 {
	width := glyph * float64(len([]rune(text)))
	return math.Max(0, math.Min(x, w-width-2))
}
