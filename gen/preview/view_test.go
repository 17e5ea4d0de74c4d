package preview

import (
	"encoding/json"
	"reflect"
	"testing"
)

// TestExtraBadges: meta keys that later stages add (filter scores, LPIPS,
// verdicts) show as badges, verdicts colored; the keys the card already
// shows do not.
func TestExtraBadges(t *testing.T) {
	tests := []struct {
		name string
		meta string
		want []Badge
	}{
		{"known keys only", `{"frame": {}, "turns": [], "order": "forward"}`, nil},
		{"scores and verdicts", `{"order": "forward", "lpips": 0.1234567, "verdict": "rejected", "filter": {"clip": 0.31, "kept": true}}`, []Badge{
			{Text: "filter.clip 0.31", Title: "filter.clip: 0.31", Class: "info"},
			{Text: "filter.kept true", Title: "filter.kept: true", Class: "good"},
			{Text: "lpips 0.1235", Title: "lpips: 0.1235", Class: "info"},
			{Text: "verdict rejected", Title: "verdict: rejected", Class: "bad"},
		}},
		{"lists as JSON", `{"judges": ["a", "b"]}`, []Badge{{Text: `judges ["a","b"]`, Title: `judges: ["a","b"]`, Class: "info"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var meta map[string]json.RawMessage
			if err := json.Unmarshal([]byte(tt.meta), &meta); err != nil {
				t.Fatal(err)
			}
			if got := extraBadges(meta); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

// TestPlaceLabels: names of points a few pixels apart do not overlap.
func TestPlaceLabels(t *testing.T) {
	tests := []struct {
		name string
		xy   [][2]float64
	}{
		{"apart", [][2]float64{{50, 50}, {300, 200}}},
		{"cluster of four", [][2]float64{{100, 100}, {103, 101}, {98, 104}, {101, 97}}},
		{"in a row", [][2]float64{{100, 100}, {108, 100}, {116, 100}, {124, 100}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var pts []PointOverlay
			for k, xy := range tt.xy {
				pts = append(pts, PointOverlay{Name: "P" + string(rune('1'+k)), X: xy[0], Y: xy[1]})
			}
			placeLabels(pts, 1)
			const w, h = 18, 11
			for i := range pts {
				for j := i + 1; j < len(pts); j++ {
					a, b := pts[i], pts[j]
					if a.LX < b.LX+w && b.LX < a.LX+w && a.LY-h < b.LY && b.LY-h < a.LY {
						t.Errorf("labels %s at (%.0f, %.0f) and %s at (%.0f, %.0f) overlap", a.Name, a.LX, a.LY, b.Name, b.LX, b.LY)
					}
				}
			}
		})
	}
}
