package preview

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"

	"github.com/boostgen/boostgen/gen"
)

// The package's tests share one small generated dataset: synthetic scenes,
// single- and multi-view, made by the real pipeline.
const testConfig = `
seed: 7
source:
  type: synthetic
  synthetic:
    width: 640
    height: 480
    sets:
      - {views: 1, scenes: 24}
      - {views: 2, scenes: 4}
      - {views: 4, scenes: 4}
      - {views: 8, scenes: 2}
output:
  compression: zstd
  items_per_part: 10
`

var shared struct {
	once sync.Once
	root string
	dir  string
	cfg  *gen.Config
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if shared.root != "" {
		os.RemoveAll(shared.root)
	}
	os.Exit(code)
}

// testDataset returns the shared dataset's folder and config.
func testDataset(t testing.TB) (string, *gen.Config) {
	t.Helper()
	shared.once.Do(func() {
		shared.root, shared.err = os.MkdirTemp("", "boostgen-preview-test-")
		if shared.err != nil {
			return
		}
		shared.cfg, shared.err = gen.ParseConfig([]byte(testConfig))
		if shared.err != nil {
			return
		}
		shared.dir = shared.root + "/out"
		var sum *gen.Summary
		sum, shared.err = gen.Run(context.Background(), shared.cfg, gen.RunOptions{Out: shared.dir, Workers: 2})
		if shared.err == nil && sum.Records < 20 {
			shared.err = fmt.Errorf("only %d records generated", sum.Records)
		}
	})
	if shared.err != nil {
		t.Fatal(shared.err)
	}
	return shared.dir, shared.cfg
}

func itoa(n int) string     { return fmt.Sprint(n) }
func ftoa(f float64) string { return fmt.Sprintf("%.1f", f) }
