// Package synthtest holds test helpers built on the synthetic scenes.
package synthtest

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/boostgen/boostgen/gen/scannet"
	"github.com/boostgen/boostgen/gen/synthetic"
)

// CaptionlessScans writes one 320×240 synthetic scene per entry of views (its
// view count) in ScanNet's export layout under a temporary folder, without
// captions, as real scans come: their caption turns are the LLM stage's to
// write. Scene n is synthetic.Generate(seed, n, views[n]), in the folder
// scene%04d_%dv. It returns the root.
func CaptionlessScans(t testing.TB, seed uint64, views ...int) string {
	t.Helper()
	root := t.TempDir()
	opts := synthetic.DefaultOptions
	opts.Width, opts.Height = 320, 240
	for n, v := range views {
		sc, err := synthetic.Generate(seed, n, v, opts)
		if err != nil {
			t.Fatal(err)
		}
		id := fmt.Sprintf("scene%04d_%dv", n, v)
		it, _, err := sc.Item(id)
		if err != nil {
			t.Fatal(err)
		}
		it.Captions = nil
		if err := scannet.Write(filepath.Join(root, id), it, sc.Truth()); err != nil {
			t.Fatal(err)
		}
	}
	return root
}
