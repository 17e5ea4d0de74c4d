package onnxtest

import (
	"os"
	"testing"
)

// Library returns the ONNX Runtime library tests should load, from
// BOOSTGEN_ORT_LIB. Without it the test is skipped, unless
// BOOSTGEN_TEST_REQUIRE=1 (as scripts/test.sh sets), where it fails: CI must
// never pass by skipping.
func Library(t testing.TB) string {
	t.Helper()
	p := os.Getenv("BOOSTGEN_ORT_LIB")
	if p != "" {
		return p
	}
	const msg = "BOOSTGEN_ORT_LIB is not set: run eval \"$(scripts/setup/ort.sh)\" first"
	if os.Getenv("BOOSTGEN_TEST_REQUIRE") == "1" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}
