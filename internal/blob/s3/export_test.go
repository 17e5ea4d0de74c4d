package s3

import "github.com/boostgen/boostgen/internal/blob"

// PartBuffers is how many part-sized buffers w allocated so far.
func PartBuffers(w blob.Writer) int { return w.(*Writer).allocated }
