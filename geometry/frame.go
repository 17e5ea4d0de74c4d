package geometry

import "math"

// Frame kinds recorded in every record's meta.
const (
	FrameFloor  = "floor"  // gravity-aligned, from the fitted floor
	FrameCamera = "camera" // fallback: the camera's own axes, z = image up
)

// Frame is the canonical space answers are stated in, as in SpatialVLM:
// z up along the floor normal, origin on the floor below the camera, x the
// viewer's right along the floor, y forward. Where no floor was found it is
// the camera frame re-labelled the same way (x right, y forward, z up), and
// Kind says so.
type Frame struct {
	Kind string
	// FromCamera maps camera coordinates of the view the frame was built
	// from into the canonical frame.
	FromCamera Pose
	// CameraHeight is the camera's height above the floor (0 in the
	// camera-frame fallback).
	CameraHeight float64
	// Floor is the fitted plane in camera coordinates (zero in the fallback).
	Floor        Plane
	FloorInliers int
}

// CameraFrame is the fallback canonical frame.
func CameraFrame() Frame {
	return Frame{Kind: FrameCamera, FromCamera: Pose{R: Mat3{{1, 0, 0}, {0, 0, 1}, {0, -1, 0}}}}
}

// FloorFrame builds the canonical frame from a floor plane in camera
// coordinates whose normal points towards the camera.
func FloorFrame(pl Plane, inliers int) Frame {
	up := pl.N.Unit()
	fwd := Vec3{0, 0, 1}
	fwd = fwd.Sub(up.Scale(up.Dot(fwd)))
	if fwd.Norm() < 1e-6 { // looking straight down: forward is image-up
		img := Vec3{0, -1, 0}
		fwd = img.Sub(up.Scale(up.Dot(img)))
	}
	fwd = fwd.Unit()
	right := fwd.Cross(up)
	r := Mat3{right, fwd, up}
	// The camera (origin) is pl.D above the floor; the frame's origin is its
	// foot on the floor, so the camera sits at (0, 0, D).
	return Frame{
		Kind:         FrameFloor,
		FromCamera:   Pose{R: r, T: Vec3{0, 0, pl.D}},
		CameraHeight: pl.D,
		Floor:        pl,
		FloorInliers: inliers,
	}
}

// UpAngleDeg is the angle between two up directions in degrees.
func UpAngleDeg(a, b Vec3) float64 {
	c := a.Unit().Dot(b.Unit())
	return math.Acos(math.Max(-1, math.Min(1, c))) * 180 / math.Pi
}
