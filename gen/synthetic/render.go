package synthetic

import (
	"image"
	"math"

	"github.com/boostgen/boostgen/geometry"
)

// View is one rendered camera image with its exact geometry.
type View struct {
	Color *image.RGBA
	// Depth is float depth along the optical axis in meters; 0 where the ray
	// leaves the room (no reading, as a depth sensor reports it).
	Depth []float32
	// Instances holds object ids per pixel, 0 for floor, walls and nothing.
	Instances []uint16
	// Visible and Amodal count, per object id, the pixels where the object
	// is seen and where it would be seen were nothing in front of it and
	// the image unbounded.
	Visible, Amodal map[int]int
}

// VisibleFraction is the share of an object's whole silhouette that is seen:
// neither hidden by other objects nor cut off by the image border.
func (v *View) VisibleFraction(id int) float64 {
	if v.Amodal[id] == 0 {
		return 0
	}
	return float64(v.Visible[id]) / float64(v.Amodal[id])
}

var lightDir = geometry.Vec3{0.35, -0.45, 0.82}.Unit()

type hit struct {
	t      float64
	normal geometry.Vec3
}

// Render ray-casts camera number cam. Each pixel's ray goes through the
// pixel center; with the ray's camera-frame z fixed to 1, the hit parameter
// is the depth itself.
func (s *Scene) Render(cam int) *View {
	c := s.Cameras[cam]
	w, h := c.K.W, c.K.H
	v := &View{
		Color:     image.NewRGBA(image.Rect(0, 0, w, h)),
		Depth:     make([]float32, w*h),
		Instances: make([]uint16, w*h),
		Visible:   map[int]int{},
		Amodal:    map[int]int{},
	}
	rects := make([]image.Rectangle, len(s.Objects))
	full := image.Rect(0, 0, w, h)
	for k := range s.Objects {
		r, whole := s.screenRect(&s.Objects[k], c)
		rects[k] = r.Intersect(full)
		if !whole && !r.In(full) {
			// Amodal pixels beyond the border: an object cut off by the
			// frame is partly hidden too.
			s.countOutside(&s.Objects[k], c, r, full, v.Amodal)
		}
	}
	// Counted in slices by id while rendering (map updates per pixel are
	// slow), turned into the View's maps at the end.
	visible := make([]int, len(s.Objects)+1)
	amodal := make([]int, len(s.Objects)+1)
	o := c.Position()
	// The ray through pixel (i, j) is linear in i and j: step it instead of
	// rotating every pixel's ray.
	d00 := c.CamToWorld.Rotate(c.K.Ray(0, 0))
	di := c.CamToWorld.Rotate(geometry.Vec3{1 / c.K.Fx, 0, 0})
	dj := c.CamToWorld.Rotate(geometry.Vec3{0, 1 / c.K.Fy, 0})
	for j := 0; j < h; j++ {
		row := d00.Add(dj.Scale(float64(j)))
		for i := 0; i < w; i++ {
			d := row.Add(di.Scale(float64(i)))
			best := hit{t: math.Inf(1)}
			bestID := 0
			var rgb [3]float64
			if hf, ok := s.hitFloor(o, d); ok {
				best = hf
				p := o.Add(d.Scale(hf.t))
				rgb = s.floorRGB
				if (int(math.Floor(p[0]/0.5))+int(math.Floor(p[1]/0.5)))&1 == 0 {
					rgb = [3]float64{rgb[0] * 0.88, rgb[1] * 0.88, rgb[2] * 0.88}
				}
			}
			for _, wl := range s.Walls {
				if hw, ok := hitWall(wl, o, d); ok && hw.t < best.t {
					best = hw
					rgb = [3]float64{225, 222, 215}
				}
			}
			pt := image.Point{i, j}
			for k := range s.Objects {
				if !pt.In(rects[k]) {
					continue
				}
				ob := &s.Objects[k]
				hb, ok := hitObject(ob, o, d)
				if !ok {
					continue
				}
				amodal[ob.ID]++
				if hb.t < best.t {
					best, bestID, rgb = hb, ob.ID, ob.rgb
				}
			}
			px := j*w + i
			pix := v.Color.Pix[4*px : 4*px+4 : 4*px+4]
			if math.IsInf(best.t, 1) {
				pix[0], pix[1], pix[2], pix[3] = 180, 200, 230, 255 // haze
				continue
			}
			v.Depth[px] = float32(best.t)
			v.Instances[px] = uint16(bestID)
			visible[bestID]++
			shade := 0.4 + 0.6*math.Max(0, best.normal.Dot(lightDir))
			pix[0], pix[1], pix[2], pix[3] = clamp8(rgb[0]*shade), clamp8(rgb[1]*shade), clamp8(rgb[2]*shade), 255
		}
	}
	for id := 1; id <= len(s.Objects); id++ {
		if amodal[id] > 0 {
			v.Amodal[id] += amodal[id]
		}
		if visible[id] > 0 {
			v.Visible[id] = visible[id]
		}
	}
	return v
}

func clamp8(f float64) uint8 { return uint8(math.Max(0, math.Min(255, math.Round(f)))) }

// screenRect bounds the pixels an object can cover, from its world AABB's
// corners, not clipped to the image; whole is true (and the rectangle the
// image) when a corner is behind the camera.
func (s *Scene) screenRect(ob *Object, c Camera) (r image.Rectangle, whole bool) {
	full := image.Rect(0, 0, c.K.W, c.K.H)
	cube := ob.TrueCube(geometry.IdentityPose)
	toCam := c.CamToWorld.Inverse()
	minU, minV, maxU, maxV := math.Inf(1), math.Inf(1), math.Inf(-1), math.Inf(-1)
	for _, p := range cube.Corners() {
		u, v, ok := c.K.Project(toCam.Apply(p))
		if !ok {
			return full, true
		}
		minU, maxU = math.Min(minU, u), math.Max(maxU, u)
		minV, maxV = math.Min(minV, v), math.Max(maxV, v)
	}
	return image.Rect(int(math.Floor(minU))-1, int(math.Floor(minV))-1, int(math.Ceil(maxU))+2, int(math.Ceil(maxV))+2), false
}

// countOutside adds to amodal the pixels of r outside the image (as if the
// sensor were larger) where the object would be seen.
func (s *Scene) countOutside(ob *Object, c Camera, r, full image.Rectangle, amodal map[int]int) {
	o := c.Position()
	for j := r.Min.Y; j < r.Max.Y; j++ {
		for i := r.Min.X; i < r.Max.X; i++ {
			if (image.Point{i, j}).In(full) {
				continue
			}
			d := c.CamToWorld.Rotate(c.K.Ray(float64(i), float64(j)))
			if _, ok := hitObject(ob, o, d); ok {
				amodal[ob.ID]++
			}
		}
	}
}

func (s *Scene) hitFloor(o, d geometry.Vec3) (hit, bool) {
	if d[2] >= 0 {
		return hit{}, false
	}
	t := -o[2] / d[2]
	p := o.Add(d.Scale(t))
	if math.Abs(p[0]) > s.FloorHalf || math.Abs(p[1]) > s.FloorHalf {
		return hit{}, false
	}
	return hit{t: t, normal: geometry.Vec3{0, 0, 1}}, true
}

func hitWall(wl Wall, o, d geometry.Vec3) (hit, bool) {
	den := wl.N.Dot(d)
	if den >= 0 {
		return hit{}, false
	}
	t := (wl.Offset - wl.N.Dot(o)) / den
	if t <= 0 {
		return hit{}, false
	}
	if z := o[2] + t*d[2]; z < 0 || z > wl.Height {
		return hit{}, false
	}
	return hit{t: t, normal: wl.N}, true
}

func hitObject(ob *Object, o, d geometry.Vec3) (hit, bool) {
	switch ob.Shape {
	case Sphere:
		return hitSphere(ob.Center, ob.Radius(), o, d)
	case Cylinder:
		return hitCylinder(ob.Center, ob.Radius(), ob.Size[2], o, d)
	default:
		return hitBox(ob, o, d)
	}
}

func hitSphere(c geometry.Vec3, r float64, o, d geometry.Vec3) (hit, bool) {
	oc := o.Sub(c)
	a := d.Dot(d)
	b := 2 * oc.Dot(d)
	cc := oc.Dot(oc) - r*r
	disc := b*b - 4*a*cc
	if disc < 0 {
		return hit{}, false
	}
	t := (-b - math.Sqrt(disc)) / (2 * a)
	if t <= 0 {
		return hit{}, false
	}
	return hit{t: t, normal: o.Add(d.Scale(t)).Sub(c).Unit()}, true
}

func hitCylinder(c geometry.Vec3, r, h float64, o, d geometry.Vec3) (hit, bool) {
	best := hit{t: math.Inf(1)}
	z0, z1 := c[2]-h/2, c[2]+h/2
	// Side.
	ox, oy := o[0]-c[0], o[1]-c[1]
	a := d[0]*d[0] + d[1]*d[1]
	if a > 1e-12 {
		b := 2 * (ox*d[0] + oy*d[1])
		cc := ox*ox + oy*oy - r*r
		if disc := b*b - 4*a*cc; disc >= 0 {
			t := (-b - math.Sqrt(disc)) / (2 * a)
			if z := o[2] + t*d[2]; t > 0 && z >= z0 && z <= z1 {
				best = hit{t: t, normal: geometry.Vec3{ox + t*d[0], oy + t*d[1], 0}.Unit()}
			}
		}
	}
	// Caps.
	if math.Abs(d[2]) > 1e-12 {
		for _, zc := range []float64{z1, z0} {
			t := (zc - o[2]) / d[2]
			if t <= 0 || t >= best.t {
				continue
			}
			x, y := ox+t*d[0], oy+t*d[1]
			if x*x+y*y <= r*r {
				n := geometry.Vec3{0, 0, 1}
				if zc == z0 {
					n = geometry.Vec3{0, 0, -1}
				}
				best = hit{t: t, normal: n}
			}
		}
	}
	return best, !math.IsInf(best.t, 1)
}

func hitBox(ob *Object, o, d geometry.Vec3) (hit, bool) {
	// Into the box's frame: rotate by −yaw about its center.
	inv := geometry.RotZ(-ob.Yaw)
	lo := inv.MulVec(o.Sub(ob.Center))
	ld := inv.MulVec(d)
	tmin, tmax := math.Inf(-1), math.Inf(1)
	axis, sign := -1, 0.0
	for k := 0; k < 3; k++ {
		half := ob.Size[k] / 2
		if math.Abs(ld[k]) < 1e-12 {
			if lo[k] < -half || lo[k] > half {
				return hit{}, false
			}
			continue
		}
		t1, t2 := (-half-lo[k])/ld[k], (half-lo[k])/ld[k]
		s := -1.0
		if t1 > t2 {
			t1, t2 = t2, t1
			s = 1
		}
		if t1 > tmin {
			tmin, axis, sign = t1, k, s
		}
		tmax = math.Min(tmax, t2)
		if tmin > tmax {
			return hit{}, false
		}
	}
	if tmin <= 0 || axis < 0 {
		return hit{}, false
	}
	var n geometry.Vec3
	n[axis] = sign
	return hit{t: tmin, normal: geometry.RotZ(ob.Yaw).MulVec(n)}, true
}
