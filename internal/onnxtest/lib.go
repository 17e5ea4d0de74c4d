package onnxtest

import (
	"testing"

	"github.com/boostgen/boostgen/internal/testenv"
)

// Library returns the ONNX Runtime library tests should load, from
// BOOSTGEN_ORT_LIB. Without it the test is skipped, unless
// BOOSTGEN_TEST_REQUIRE=1 (as scripts/test.sh sets), where it fails: CI must
// never pass by skipping.
func Library(t testing.TB) string {
	t.Helper()
	return testenv.Lookup(t, "BOOSTGEN_ORT_LIB", "ort.sh")
}
