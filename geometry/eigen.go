package geometry

import "math"

// symEigen returns the eigenvalues (ascending) and matching unit eigenvectors
// (columns of the returned matrix) of a symmetric 3×3 matrix, by cyclic
// Jacobi rotations: small, exact enough for plane fitting, no dependency.
func symEigen(a Mat3) ([3]float64, Mat3) {
	v := Identity3
	for sweep := 0; sweep < 50; sweep++ {
		off := a[0][1]*a[0][1] + a[0][2]*a[0][2] + a[1][2]*a[1][2]
		if off < 1e-30 {
			break
		}
		for p := 0; p < 2; p++ {
			for q := p + 1; q < 3; q++ {
				if math.Abs(a[p][q]) < 1e-300 {
					continue
				}
				theta := (a[q][q] - a[p][p]) / (2 * a[p][q])
				t := 1 / (math.Abs(theta) + math.Sqrt(theta*theta+1))
				if theta < 0 {
					t = -t
				}
				c := 1 / math.Sqrt(t*t+1)
				s := t * c
				for k := 0; k < 3; k++ { // a = Jᵀ a J
					akp, akq := a[k][p], a[k][q]
					a[k][p], a[k][q] = c*akp-s*akq, s*akp+c*akq
				}
				for k := 0; k < 3; k++ {
					apk, aqk := a[p][k], a[q][k]
					a[p][k], a[q][k] = c*apk-s*aqk, s*apk+c*aqk
				}
				for k := 0; k < 3; k++ {
					vkp, vkq := v[k][p], v[k][q]
					v[k][p], v[k][q] = c*vkp-s*vkq, s*vkp+c*vkq
				}
			}
		}
	}
	vals := [3]float64{a[0][0], a[1][1], a[2][2]}
	// Sort ascending, carrying the eigenvector columns along.
	idx := [3]int{0, 1, 2}
	for i := 0; i < 3; i++ {
		for j := i + 1; j < 3; j++ {
			if vals[idx[j]] < vals[idx[i]] {
				idx[i], idx[j] = idx[j], idx[i]
			}
		}
	}
	var outV Mat3
	var outL [3]float64
	for c, k := range idx {
		outL[c] = vals[k]
		for r := 0; r < 3; r++ {
			outV[r][c] = v[r][k]
		}
	}
	return outL, outV
}
