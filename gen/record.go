package gen

import (
	"github.com/boostgen/boostgen/gen/scene"
	"github.com/boostgen/boostgen/templates"
)

// Schema versions written into records and manifests.
const (
	RecordSchemaVersion   = "boostgen.record/v1"
	ManifestSchemaVersion = "boostgen.manifest/v1"
)

// Record is one line of a shard: a LLaVA-format conversation plus meta.
type Record struct {
	ID            string    `json:"id"`
	Image         any       `json:"image"` // string, or []string for multi-view
	Conversations []Message `json:"conversations"`
	Meta          Meta      `json:"meta"`
}

// Message is one LLaVA conversation turn.
type Message struct {
	From  string `json:"from"` // "human" or "gpt"
	Value string `json:"value"`
}

// Meta is the structured truth behind a record and where it came from.
type Meta struct {
	SchemaVersion  string               `json:"schema_version"`
	Generator      string               `json:"generator"`
	Seed           uint64               `json:"seed"`
	ConfigSHA256   string               `json:"config_sha256"`
	Source         Provenance           `json:"source"`
	Frame          FrameMeta            `json:"frame,omitzero"`
	Order          string               `json:"order,omitempty"`
	Objects        []ObjectMeta         `json:"objects,omitempty"`
	Points         []templates.PointRef `json:"points,omitempty"`
	Turns          []templates.Turn     `json:"turns"`
	SkippedObjects []SkippedObject      `json:"skipped_objects,omitempty"`
	// Filters is what the filter stages measured (docs/sources.md).
	Filters *scene.FilterMeta `json:"filters,omitempty"`
	// Geometry is set when models estimated the geometry (gen/models.go).
	Geometry *GeometryMeta `json:"geometry,omitempty"`

	// Kind says what sort of record this is: KindSpatial (the 12-turn
	// chain, with Frame, Order, Objects and Points) or KindVQA (multi-view
	// VQA, with VQA); Task refines it.
	Kind string   `json:"kind,omitempty"`
	Task string   `json:"task,omitempty"`
	VQA  *VQAMeta `json:"vqa,omitempty"`
}

// Record kinds and tasks (meta.kind, meta.task).
const (
	KindSpatial  = "spatial"
	KindVQA      = "vqa"
	TaskSpatial  = "spatial_chain"
	TaskMultiVQA = "multiview_vqa"
)

// Provenance names the source item a record was made from.
type Provenance struct {
	Kind  string   `json:"kind"`
	Item  string   `json:"item"`
	Index int      `json:"index"`
	Views []string `json:"views"`
}

// FrameMeta says which canonical frame the 3D answers are stated in, and
// how to get from it to the anchor view's pixels (for overlays and checks).
type FrameMeta struct {
	Kind                string         `json:"kind"` // "floor" or "camera"
	AnchorView          int            `json:"anchor_view"`
	CameraHeightM       float64        `json:"camera_height_m"`
	FloorInliers        int            `json:"floor_inliers"`
	CanonicalFromCamera [4][4]float64  `json:"canonical_from_camera"`
	Intrinsics          IntrinsicsMeta `json:"intrinsics"`
}

// IntrinsicsMeta are the anchor view's pinhole intrinsics (pixel centers at
// integer coordinates).
type IntrinsicsMeta struct {
	Fx     float64 `json:"fx"`
	Fy     float64 `json:"fy"`
	Cx     float64 `json:"cx"`
	Cy     float64 `json:"cy"`
	Width  int     `json:"width"`
	Height int     `json:"height"`
}

// ObjectMeta describes an object the turns refer to.
type ObjectMeta struct {
	Ref    string     `json:"ref"` // "A" or "B"
	ID     int        `json:"id"`
	Label  string     `json:"label"`
	Name   string     `json:"name"`
	Box2D  [4]float64 `json:"box2d"` // x0, y0, x1, y1 normalized, anchor view
	Cube   CubeMeta   `json:"cube"`
	Points int        `json:"points"`
	// OccludedShare is the share of the anchor-view outline hidden by nearer objects.
	OccludedShare float64 `json:"occluded_share"`
}

// CubeMeta is a bounding cube in the canonical frame (meters, degrees).
type CubeMeta struct {
	Center []float64 `json:"center"`
	Size   []float64 `json:"size"`
	YawDeg float64   `json:"yaw_deg"`
}

// SkippedObject is a visible object no turn may ask about, and why.
type SkippedObject struct {
	ID     int    `json:"id"`
	Label  string `json:"label"`
	Reason string `json:"reason"`
}

// Reject is one line of rejects.jsonl.
type Reject struct {
	Item   string `json:"item"`
	Index  int    `json:"index"`
	Code   string `json:"code"`
	Reason string `json:"reason"`
}

// GeometryMeta says where a record's depth, intrinsics and camera poses
// came from when models estimated them (absent when the source's own
// geometry was used as is).
type GeometryMeta struct {
	Depth      string `json:"depth"`               // "source", "depthpro" or "vggt"
	Intrinsics string `json:"intrinsics"`          // "source", "depthpro", "vggt" or "mixed"
	Multiview  string `json:"multiview,omitempty"` // multi-view items: "poses" or "vggt"
	// Masks is "sam2" when SAM 2 made the object masks (geometry.masks:
	// sam2), absent when they are the source's.
	Masks string `json:"masks,omitempty"`
	// Scale is how model units became meters, when they were not metric
	// already.
	Scale *ScaleMeta `json:"scale,omitempty"`
}

// ScaleMeta is a scale applied to model output: metric = factor × model.
type ScaleMeta struct {
	// Method: "source_depth" (median ratio to the dataset's depth),
	// "depthpro" (median ratio to Depth-Pro on the first view) or
	// "source_focal" (Depth-Pro's depth rescaled to the source's focal
	// length, as Depth-Pro does when given one).
	Method string  `json:"method"`
	Factor float64 `json:"factor"`
	// Pixels is how many pixel ratios the median was taken over.
	Pixels int `json:"pixels,omitempty"`
}
