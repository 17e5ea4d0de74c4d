package preview

import (
	"fmt"
	"html"
	"html/template"
	"math"
	"strings"

	"github.com/boostgen/boostgen/gen/stats"
)

// chart is one inline-SVG figure of the statistics panel.
type chart struct {
	Title string
	Note  string
	SVG   template.HTML
}

var levelColor = map[string]string{"pixel": "#5b8def", "object": "#e0a100", "scene": "#2a9d8f", "caption": "#9b6dd6"}

func charts(st *stats.Stats) []chart {
	var out []chart
	out = append(out, chart{Title: "True share per predicate", Note: "answers balanced near 50 % (dashed)", SVG: balanceChart(st.Balance)})
	var kinds []bar
	for _, k := range st.Kinds {
		kinds = append(kinds, bar{Label: k.Kind, Value: k.Asked, Color: levelColor[k.Level], Extra: missingNote(k.Missing)})
	}
	out = append(out, chart{Title: "Turns per kind", Note: "colored by level: pixel, object, scene, caption", SVG: barChart(kinds)})
	out = append(out, chart{Title: "Point depths (m)", Note: histNote(st.Depths), SVG: histChart(st.Depths, "#5b8def")})
	out = append(out, chart{Title: "Object distances (m)", Note: histNote(st.Distances), SVG: histChart(st.Distances, "#2a9d8f")})
	var views []bar
	for _, c := range st.Views {
		views = append(views, bar{Label: c.Name + (map[bool]string{true: " view", false: " views"})[c.Name == "1"], Value: c.Count, Color: "#6c757d"})
	}
	for _, c := range st.Frames {
		views = append(views, bar{Label: c.Name + " frame", Value: c.Count, Color: "#adb5bd"})
	}
	out = append(out, chart{Title: "Records by views and frame", Note: fmt.Sprintf("%d records", st.Records), SVG: barChart(views)})
	var rej []bar
	for _, c := range st.RejectsByReason {
		rej = append(rej, bar{Label: c.Name, Value: c.Count, Color: "#e76f51"})
	}
	note := fmt.Sprintf("%d of %d items rejected", st.Rejects, st.Items)
	out = append(out, chart{Title: "Rejects by reason", Note: note, SVG: barChart(rej)})
	return out
}

func missingNote(n int) string {
	if n == 0 {
		return ""
	}
	return fmt.Sprintf(" (+%d missing)", n)
}

func histNote(h stats.Histogram) string {
	if h.N == 0 {
		return "none"
	}
	return fmt.Sprintf("%d answers · median %.2f · mean %.2f · max %.2f", h.N, h.Median, h.Mean, h.Max)
}

const chartW = 620

type bar struct {
	Label string
	Value int
	Color string
	Extra string
}

func svgOpen(b *strings.Builder, h int, label string) {
	fmt.Fprintf(b, `<svg class="chart" viewBox="0 0 %d %d" width="%d" height="%d" role="img" aria-label="%s">`, chartW, h, chartW, h, html.EscapeString(label))
}

func barChart(bars []bar) template.HTML {
	if len(bars) == 0 {
		return template.HTML(`<p class="empty">none</p>`)
	}
	const row, left, right = 22, 130, 90
	most := 0
	for _, b := range bars {
		most = max(most, b.Value)
	}
	h := row*len(bars) + 6
	var s strings.Builder
	svgOpen(&s, h, "bar chart")
	for k, b := range bars {
		y := 3 + k*row
		w := 0.0
		if most > 0 {
			w = float64(chartW-left-right) * float64(b.Value) / float64(most)
		}
		fmt.Fprintf(&s, `<text x="%d" y="%d" class="lbl" text-anchor="end">%s</text>`, left-8, y+15, html.EscapeString(b.Label))
		fmt.Fprintf(&s, `<rect x="%d" y="%d" width="%.1f" height="%d" rx="2" fill="%s"/>`, left, y+3, w, row-7, b.Color)
		fmt.Fprintf(&s, `<text x="%.1f" y="%d" class="val">%d%s</text>`, float64(left)+w+6, y+15, b.Value, html.EscapeString(b.Extra))
	}
	s.WriteString(`</svg>`)
	return template.HTML(s.String())
}

func balanceChart(bs []stats.Balance) template.HTML {
	const row, left, right = 22, 80, 120
	h := row*len(bs) + 20
	width := float64(chartW - left - right)
	var s strings.Builder
	svgOpen(&s, h, "true share per predicate")
	for k, b := range bs {
		y := 3 + k*row
		n := b.True + b.False
		fmt.Fprintf(&s, `<text x="%d" y="%d" class="lbl" text-anchor="end">%s</text>`, left-8, y+15, html.EscapeString(b.Predicate))
		if n == 0 {
			fmt.Fprintf(&s, `<text x="%d" y="%d" class="val">not asked</text>`, left, y+15)
			continue
		}
		tw := width * b.TrueShare
		fmt.Fprintf(&s, `<rect x="%d" y="%d" width="%.1f" height="%d" fill="#2a9d8f"><title>true: %d</title></rect>`, left, y+3, tw, row-7, b.True)
		fmt.Fprintf(&s, `<rect x="%.1f" y="%d" width="%.1f" height="%d" fill="#e76f51"><title>false: %d</title></rect>`, float64(left)+tw, y+3, width-tw, row-7, b.False)
		cls := "val"
		if b.TrueShare < 0.4 || b.TrueShare > 0.6 {
			cls = "val warn"
		}
		fmt.Fprintf(&s, `<text x="%.1f" y="%d" class="%s">%.1f%% of %d</text>`, float64(left)+width+6, y+15, cls, 100*b.TrueShare, n)
	}
	mid := float64(left) + width/2
	fmt.Fprintf(&s, `<line x1="%.1f" y1="0" x2="%.1f" y2="%d" class="mid"/>`, mid, mid, h-16)
	fmt.Fprintf(&s, `<text x="%d" y="%d" class="axis">true</text><text x="%.1f" y="%d" class="axis" text-anchor="end">false</text>`, left, h-3, float64(left)+width, h-3)
	s.WriteString(`</svg>`)
	return template.HTML(s.String())
}

func histChart(hg stats.Histogram, color string) template.HTML {
	if hg.N == 0 || len(hg.Counts) == 0 {
		return template.HTML(`<p class="empty">none</p>`)
	}
	const h, top, bottom, left = 170, 14, 24, 36
	most := 0
	for _, c := range hg.Counts {
		most = max(most, c)
	}
	plotW := float64(chartW - left - 8)
	bw := plotW / float64(len(hg.Counts))
	var s strings.Builder
	svgOpen(&s, h, "histogram")
	base := h - bottom
	for k, c := range hg.Counts {
		bh := float64(base-top) * float64(c) / float64(most)
		lo := hg.Start + float64(k)*hg.Width
		fmt.Fprintf(&s, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"><title>%.2f–%.2f m: %d</title></rect>`,
			float64(left)+float64(k)*bw+1, float64(base)-bh, math.Max(bw-2, 1), bh, color, lo, lo+hg.Width, c)
	}
	fmt.Fprintf(&s, `<line x1="%d" y1="%d" x2="%d" y2="%d" class="base"/>`, left, base, chartW-8, base)
	step := int(math.Ceil(float64(len(hg.Counts)) / 8))
	for k := 0; k <= len(hg.Counts); k += step {
		x := float64(left) + float64(k)*bw
		fmt.Fprintf(&s, `<text x="%.1f" y="%d" class="axis" text-anchor="middle">%s</text>`, x, h-8, trimFloat(hg.Start+float64(k)*hg.Width))
	}
	fmt.Fprintf(&s, `<text x="%d" y="%d" class="axis" text-anchor="end">%d</text>`, left-4, top+8, most)
	fmt.Fprintf(&s, `<text x="%d" y="%d" class="axis" text-anchor="end">0</text>`, left-4, base)
	s.WriteString(`</svg>`)
	return template.HTML(s.String())
}

func trimFloat(f float64) string {
	s := fmt.Sprintf("%.2f", f)
	s = strings.TrimRight(s, "0")
	return strings.TrimSuffix(s, ".")
}
