// Package synthetic renders seeded procedural scenes: a floor, optional
// walls, and 3–8 boxes, spheres and cylinders, seen by a pinhole camera from
// one or several poses along a smooth path. Every scene knows its exact
// geometry, which makes it both boostgen's built-in default source and the
// oracle the tests check labels against.
package synthetic

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/boostgen/boostgen/geometry"
)

// Shape of a synthetic object.
type Shape string

const (
	Box      Shape = "box"
	Sphere   Shape = "sphere"
	Cylinder Shape = "cylinder"
)

// Object is one solid in world coordinates (z up, floor at z = 0).
type Object struct {
	ID     int // instance id in the rendered instance maps, from 1
	Shape  Shape
	Color  string
	Label  string        // "red box"
	Center geometry.Vec3 // geometric center
	// Size is the extent in the object's own frame: boxes (w, d, h),
	// spheres (2r, 2r, 2r), upright cylinders (2r, 2r, h).
	Size    geometry.Vec3
	Yaw     float64 // radians about z (boxes)
	Support int     // id of the object it rests on, 0 for the floor
	rgb     [3]float64
}

// Radius of spheres and cylinders.
func (o *Object) Radius() float64 { return o.Size[0] / 2 }

// Wall is a vertical plane facing the camera: points p with N·p = Offset.
type Wall struct {
	N      geometry.Vec3
	Offset float64
	Height float64
}

// Camera is one view of the scene.
type Camera struct {
	CamToWorld geometry.Pose
	K          geometry.Intrinsics
	HFOVDeg    float64
	PitchDeg   float64
	RollDeg    float64
	YawDeg     float64
}

// Position is the camera center in world coordinates.
func (c Camera) Position() geometry.Vec3 { return c.CamToWorld.T }

// Scene is everything a synthetic item is made from.
type Scene struct {
	Seed       uint64
	Index      int
	FloorColor string
	FloorHalf  float64 // the floor is a square of this half-size around the origin
	Walls      []Wall
	Objects    []Object
	Cameras    []Camera
	floorRGB   [3]float64
}

// Options control scene generation.
type Options struct {
	Width, Height int
	WallChance    float64 // probability that a scene has walls
	MinObjects    int
	MaxObjects    int
}

// DefaultOptions are the quickstart's settings.
var DefaultOptions = Options{Width: 640, Height: 480, WallChance: 0.5, MinObjects: 3, MaxObjects: 8}

var palette = []struct {
	name string
	rgb  [3]float64
}{
	{"red", [3]float64{200, 30, 30}},
	{"green", [3]float64{40, 160, 60}},
	{"blue", [3]float64{40, 70, 200}},
	{"yellow", [3]float64{230, 200, 40}},
	{"orange", [3]float64{235, 130, 30}},
	{"purple", [3]float64{130, 50, 170}},
	{"pink", [3]float64{240, 130, 180}},
	{"brown", [3]float64{120, 75, 40}},
	{"white", [3]float64{235, 235, 235}},
	{"black", [3]float64{25, 25, 25}},
	{"cyan", [3]float64{40, 200, 210}},
}

var floors = []struct {
	name string
	rgb  [3]float64
}{
	{"gray", [3]float64{128, 128, 128}},
	{"beige", [3]float64{200, 185, 150}},
	{"wooden", [3]float64{150, 110, 70}},
}

// Generate makes scene number index of a run with the given seed, seen from
// views cameras (1 for single view; 2, 4 or 8 along a smooth path).
func Generate(seed uint64, index, views int, o Options) (*Scene, error) {
	if views < 1 {
		return nil, fmt.Errorf("synthetic: %d views", views)
	}
	if o.MinObjects < 2 || o.MaxObjects < o.MinObjects {
		return nil, fmt.Errorf("synthetic: objects %d..%d", o.MinObjects, o.MaxObjects)
	}
	// Several attempts with derived streams: a random layout occasionally
	// fits fewer objects than asked; the result stays a pure function of
	// (seed, index, views).
	for attempt := uint64(0); attempt < 20; attempt++ {
		rng := rand.New(rand.NewPCG(seed, uint64(index)<<8|uint64(views)<<4|attempt))
		s := generate(rng, seed, index, views, o)
		if len(s.Objects) >= o.MinObjects {
			return s, nil
		}
	}
	return nil, fmt.Errorf("synthetic: could not place %d objects in scene %d", o.MinObjects, index)
}

func uniform(r *rand.Rand, lo, hi float64) float64 { return lo + (hi-lo)*r.Float64() }

func generate(rng *rand.Rand, seed uint64, index, views int, o Options) *Scene {
	s := &Scene{Seed: seed, Index: index, FloorHalf: 9}
	fl := floors[rng.IntN(len(floors))]
	s.FloorColor, s.floorRGB = fl.name, fl.rgb

	hfov := uniform(rng, 45, 75)
	height := uniform(rng, 0.8, 1.8)
	pitch := uniform(rng, -40, -5)
	roll := uniform(rng, -5, 5)
	yaw := uniform(rng, 0, 360)
	center := makeCamera(o.Width, o.Height, hfov, geometry.Vec3{0, 0, height}, yaw, pitch, roll)

	// Walls, behind where objects go: a back wall across the view and maybe
	// side walls, as planes facing the camera.
	fwd := geometry.Vec3{math.Sin(geometry.Deg(yaw)), math.Cos(geometry.Deg(yaw)), 0}
	right := geometry.Vec3{math.Cos(geometry.Deg(yaw)), -math.Sin(geometry.Deg(yaw)), 0}
	var limits []Wall
	if rng.Float64() < o.WallChance {
		back := uniform(rng, 6.5, 8)
		s.Walls = append(s.Walls, Wall{N: fwd.Scale(-1), Offset: -back, Height: 2.6})
		if rng.Float64() < 0.5 {
			d := uniform(rng, 3, 5)
			s.Walls = append(s.Walls, Wall{N: right, Offset: -d, Height: 2.6})
		}
		if rng.Float64() < 0.5 {
			d := uniform(rng, 3, 5)
			s.Walls = append(s.Walls, Wall{N: right.Scale(-1), Offset: -d, Height: 2.6})
		}
		limits = s.Walls
	}

	n := o.MinObjects + rng.IntN(o.MaxObjects-o.MinObjects+1)
	for tries := 0; len(s.Objects) < n && tries < 60*n; tries++ {
		obj, ok := s.place(rng, center, height, limits, o)
		if ok {
			obj.ID = len(s.Objects) + 1
			s.Objects = append(s.Objects, obj)
		}
	}

	// Camera path: a sideways arc around the middle pose, turning towards the
	// scene as it moves so that the objects stay in view.
	if views == 1 {
		s.Cameras = []Camera{center}
		return s
	}
	span := uniform(rng, 0.3, 0.8)   // meters either side of the middle
	turn := uniform(rng, 6, 15)      // degrees either side
	bob := uniform(rng, -0.08, 0.08) // height change at the ends
	tilt := uniform(rng, -3, 3)      // pitch change at the ends
	for v := 0; v < views; v++ {
		t := -1 + 2*float64(v)/float64(views-1)
		pos := geometry.Vec3{0, 0, height}.Add(right.Scale(span * t)).Add(fwd.Scale(-0.15 * t * t))
		pos[2] += bob * t * t
		s.Cameras = append(s.Cameras, makeCamera(o.Width, o.Height, hfov, pos, yaw+turn*t, pitch+tilt*t*t, roll*(1-0.5*t*t)))
	}
	return s
}

// makeCamera builds a camera at pos looking along heading yaw (degrees, 0 =
// +y, clockwise seen from above), pitched (negative = down) and rolled.
func makeCamera(w, h int, hfov float64, pos geometry.Vec3, yaw, pitch, roll float64) Camera {
	ps, pc := math.Sincos(geometry.Deg(pitch))
	ys, yc := math.Sincos(geometry.Deg(yaw))
	f := geometry.Vec3{ys * pc, yc * pc, ps}
	r0 := geometry.Vec3{yc, -ys, 0}
	u0 := r0.Cross(f)
	rs, rc := math.Sincos(geometry.Deg(roll))
	r := r0.Scale(rc).Add(u0.Scale(rs))
	u := u0.Scale(rc).Sub(r0.Scale(rs))
	down := u.Scale(-1)
	rot := geometry.Mat3{{r[0], down[0], f[0]}, {r[1], down[1], f[1]}, {r[2], down[2], f[2]}}
	return Camera{
		CamToWorld: geometry.Pose{R: rot, T: pos},
		K:          geometry.IntrinsicsFromHFOV(w, h, geometry.Deg(hfov)),
		HFOVDeg:    hfov, PitchDeg: pitch, RollDeg: roll, YawDeg: yaw,
	}
}

func footprint(o *Object) float64 {
	if o.Shape == Box {
		return math.Hypot(o.Size[0], o.Size[1]) / 2
	}
	return o.Radius()
}

// place tries to put one new object on the floor in view of cam, or on top
// of a box already placed.
func (s *Scene) place(rng *rand.Rand, cam Camera, camHeight float64, walls []Wall, o Options) (Object, bool) {
	pal := palette[rng.IntN(len(palette))]
	obj := Object{Color: pal.name, rgb: pal.rgb}
	switch rng.IntN(3) {
	case 0:
		obj.Shape = Box
	case 1:
		obj.Shape = Sphere
	default:
		obj.Shape = Cylinder
	}
	obj.Label = obj.Color + " " + string(obj.Shape)
	// Tops stay at least 0.2 m below the camera, so every top face is seen
	// from above, as in a person's photo of a room.
	maxTop := camHeight - 0.2

	if rng.Float64() < 0.25 {
		// Stack on a box with room on top.
		for k := range s.Objects {
			sup := &s.Objects[k]
			if sup.Shape != Box || sup.Support != 0 || s.supports(sup.ID) {
				continue
			}
			top := sup.Center[2] + sup.Size[2]/2
			room := math.Min(sup.Size[0], sup.Size[1]) / 2 * 0.9
			if room < 0.08 || maxTop-top < 0.12 {
				continue
			}
			if !sizeObject(rng, &obj, room, maxTop-top) {
				continue
			}
			obj.Center = geometry.Vec3{sup.Center[0], sup.Center[1], top + obj.Size[2]/2}
			obj.Support = sup.ID
			return obj, true
		}
	}

	if !sizeObject(rng, &obj, 0.35, maxTop) {
		return obj, false
	}
	// Aim at a random pixel in the lower part of the image and put the
	// object where that ray meets the floor.
	u := uniform(rng, 0.12, 0.88) * float64(cam.K.W)
	v := uniform(rng, 0.4, 0.92) * float64(cam.K.H)
	d := cam.CamToWorld.Rotate(cam.K.Ray(u, v))
	if d[2] >= -1e-6 {
		return obj, false
	}
	p := cam.Position().Add(d.Scale(-cam.Position()[2] / d[2]))
	if dist := math.Hypot(p[0]-cam.Position()[0], p[1]-cam.Position()[1]); dist < 1.2 || dist > 6 {
		return obj, false
	}
	rad := footprint(&obj)
	for _, w := range walls {
		if w.Offset-w.N.Dot(p) > -rad-0.3 { // keep 0.3 m off every wall
			return obj, false
		}
	}
	if math.Abs(p[0])+rad > s.FloorHalf-0.5 || math.Abs(p[1])+rad > s.FloorHalf-0.5 {
		return obj, false
	}
	for k := range s.Objects {
		q := &s.Objects[k]
		if q.Support != 0 {
			continue
		}
		if math.Hypot(p[0]-q.Center[0], p[1]-q.Center[1]) < rad+footprint(q)+0.1 {
			return obj, false
		}
	}
	obj.Center = geometry.Vec3{p[0], p[1], obj.Size[2] / 2}
	return obj, true
}

func (s *Scene) supports(id int) bool {
	for _, o := range s.Objects {
		if o.Support == id {
			return true
		}
	}
	return false
}

// sizeObject draws a size whose footprint radius is at most maxR and whose
// height is at most maxH.
func sizeObject(rng *rand.Rand, o *Object, maxR, maxH float64) bool {
	switch o.Shape {
	case Box:
		w, d := uniform(rng, 0.15, 0.6), uniform(rng, 0.15, 0.6)
		if r := math.Hypot(w, d) / 2; r > maxR {
			w, d = w*maxR/r, d*maxR/r
		}
		h := uniform(rng, 0.12, 0.7)
		if h > maxH || w < 0.08 || d < 0.08 {
			return false
		}
		o.Size = geometry.Vec3{w, d, h}
		o.Yaw = uniform(rng, 0, math.Pi/2)
	case Sphere:
		r := math.Min(uniform(rng, 0.08, 0.2), maxR)
		if 2*r > maxH || r < 0.05 {
			return false
		}
		o.Size = geometry.Vec3{2 * r, 2 * r, 2 * r}
	case Cylinder:
		r := math.Min(uniform(rng, 0.06, 0.25), maxR)
		h := uniform(rng, 0.12, 0.75)
		if h > maxH || r < 0.05 {
			return false
		}
		o.Size = geometry.Vec3{2 * r, 2 * r, h}
	}
	return true
}

// TrueCube is the exact axis-aligned bounding cube of o in a frame reached
// from world coordinates by toFrame: the ground truth predicates and
// distances are checked against.
func (o *Object) TrueCube(toFrame geometry.Pose) geometry.Cube {
	c := toFrame.Apply(o.Center)
	var half geometry.Vec3
	switch o.Shape {
	case Sphere:
		r := o.Radius()
		half = geometry.Vec3{r, r, r}
	case Cylinder:
		// Axis is world z; in the frame it is a = R·z. The AABB half-extent
		// of a cylinder along axis k is r·sqrt(1−a_k²) + h/2·|a_k|.
		a := toFrame.Rotate(geometry.Vec3{0, 0, 1})
		r, h := o.Radius(), o.Size[2]
		for k := 0; k < 3; k++ {
			half[k] = r*math.Sqrt(math.Max(0, 1-a[k]*a[k])) + h/2*math.Abs(a[k])
		}
	default:
		rot := toFrame.R.Mul(geometry.RotZ(o.Yaw))
		for k := 0; k < 3; k++ {
			half[k] = (math.Abs(rot[k][0])*o.Size[0] + math.Abs(rot[k][1])*o.Size[1] + math.Abs(rot[k][2])*o.Size[2]) / 2
		}
	}
	return geometry.Cube{Center: c, Size: half.Scale(2)}
}
