package s3

import "github.com/boostgen/boostgen/internal/blob"

// PartBuffers is how many part-sized buffers w allocated so far.
func PartBuffers(w blob.Writer) int { return w.(*Writer).allocated }

// CompletedByUs is the check a writer makes when a retried Complete finds the
// upload gone: is the object under its key the one it uploaded?
func CompletedByUs(w blob.Writer) bool {
	ww := w.(*Writer)
	return ww.completedByUs(ww.compositeCRC32())
}
