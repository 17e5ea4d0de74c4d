package scene

// FilterMeta is what the filter stages measured on an item; the record
// carries it as meta.filters, so that a dataset can be re-thresholded
// without running the models again.
type FilterMeta struct {
	CLIP   *CLIPMeta   `json:"clip,omitempty"`
	Naming *NamingMeta `json:"naming,omitempty"`
	Pair   *PairMeta   `json:"pair,omitempty"`
}

// CLIPMeta is the CLIP filter's verdict on a single image.
type CLIPMeta struct {
	BestLabel string  `json:"best_label"`
	Positive  bool    `json:"positive"`
	Prob      float64 `json:"prob"`
	Margin    float64 `json:"margin"`
}

// NamingMeta is zero-shot naming of an item's masks.
type NamingMeta struct {
	Named     int         `json:"named"`
	Ambiguous int         `json:"ambiguous"`
	Objects   []NamedMask `json:"objects,omitempty"`
}

// NamedMask is one mask's naming: Label is empty when it was ambiguous.
type NamedMask struct {
	ID     int     `json:"id"`
	Label  string  `json:"label,omitempty"`
	Best   string  `json:"best"`
	Prob   float64 `json:"prob"`
	Margin float64 `json:"margin"`
}

// PairMeta describes a mined pair of frames (a video's or a scan's).
type PairMeta struct {
	Frames [2]int   `json:"frames"`
	LPIPS  *float64 `json:"lpips,omitempty"` // nil when paired by a fixed gap
	Method string   `json:"method"`          // "lpips", "gap", "lpips-pose", "lpips-gap"
	// Between are the frames between the two that travel with the pair
	// (Item.Between), by the same numbering as Frames.
	Between []int `json:"between,omitempty"`
}
