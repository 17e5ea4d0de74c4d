package geometry

import "math"

// Round3 rounds to 3 decimals, the precision every stated number has
// (Appendix C: "all depth values are rounded to the third decimal place").
func Round3(v float64) float64 {
	r := math.Round(v*1000) / 1000
	if r == 0 {
		return 0 // no "-0.000"
	}
	return r
}

// Round3Vec is v with each coordinate rounded by Round3, as a record's
// meta states points and cube corners.
func Round3Vec(v Vec3) []float64 {
	return []float64{Round3(v[0]), Round3(v[1]), Round3(v[2])}
}
