// Package scene is the data model every source produces and the pipeline
// consumes: an Item is one unit of input (a single image, or a set of views
// of one scene) with whatever geometry and annotation its source knows.
package scene

import (
	"github.com/boostgen/boostgen/geometry"
)

// Image is an encoded image as it will be copied into the output: the bytes
// are kept as read so that the dataset holds the source's own file.
type Image struct {
	Bytes []byte
	Ext   string // ".png", ".jpg", ...
}

// View is one image with the geometry its source provides.
type View struct {
	Name  string // e.g. the frame number in a scan
	Image Image
	W, H  int
	// Depth is metric depth (meters) at the image's size; empty when the
	// source has none (a depth model fills it in).
	Depth geometry.DepthMap
	// Instances holds a per-pixel object id (0 = no object), or nil.
	Instances []uint16
	// K are the intrinsics at the image's size; zero when unknown.
	K geometry.Intrinsics
	// CamToWorld is the camera pose, or nil when unknown.
	CamToWorld *geometry.Pose
}

// Object names an instance id.
type Object struct {
	ID    int
	Label string // "red box"
}

// Item is one unit of work: everything that becomes one record.
type Item struct {
	// ID is unique in the run and stable across runs ("synthetic-1v-000042").
	ID string
	// Index is the item's position in the source's deterministic order; it
	// seeds per-item choices so that output does not depend on scheduling.
	Index  int
	Source string // source kind, for provenance
	Views  []View
	// Between are frames strictly between a mined pair's two views, in
	// path order (at most 6, evenly spaced). They are no part of the
	// item's geometry or spatial record: only the LLM view interpolation
	// uses them, to grow the pair's VQA sample to 4 and 8 views as it does
	// with a scan's frames. Only Name, Image, W and H are set.
	Between []View
	// Objects maps instance ids to labels.
	Objects []Object
	// Captions are the source's own scene descriptions (short, detailed), or
	// nil when it has none and the LLM stage must write them.
	Captions []string
	// Filters holds what filter stages measured (meta.filters), or nil.
	Filters *FilterMeta
	// Masks names the model that made the object masks ("sam2"), or is
	// empty when they are the source's own (meta.geometry.masks).
	Masks string
	// MasksMayCoverFloor is set when the masks segment everything in sight
	// (SA-1B's annotations, SAM 2), so that one may be a patch of floor;
	// the floor is then fitted on every pixel, not only on unmasked ones.
	// Instance maps of objects alone (synthetic, ScanNet) leave it unset.
	MasksMayCoverFloor bool
	// Err is set when the source could not read the item; the pipeline turns
	// it into a reject with this reason.
	Err error
}

// Label returns the label of instance id, or "".
func (it *Item) Label(id int) string {
	for _, o := range it.Objects {
		if o.ID == id {
			return o.Label
		}
	}
	return ""
}
