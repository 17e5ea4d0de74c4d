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
