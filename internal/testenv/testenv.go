// Package testenv finds what tests need from outside the repo (a shared
// library, a server binary, ffmpeg, a browser, the boostgen binary) with
// one policy: the setup scripts print `export NAME=…` lines, and a test
// whose variable is unset is skipped, unless BOOSTGEN_TEST_REQUIRE=1
// (scripts/test.sh and CI set it), where it fails, so that CI can never
// pass by skipping.
package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// Require is the variable that turns skips into failures.
const Require = "BOOSTGEN_TEST_REQUIRE"

// SkipOrFail skips tb with the message args, or fails it under
// BOOSTGEN_TEST_REQUIRE=1.
func SkipOrFail(tb testing.TB, args ...any) {
	tb.Helper()
	if os.Getenv(Require) == "1" {
		tb.Fatal(args...)
	}
	tb.Skip(args...)
}

// Lookup returns $name, set by scripts/setup/<script>; without it the test
// is skipped, or fails under BOOSTGEN_TEST_REQUIRE=1.
func Lookup(tb testing.TB, name, script string) string {
	tb.Helper()
	if v := os.Getenv(name); v != "" {
		return v
	}
	SkipOrFail(tb, fmt.Sprintf("%s is not set: run eval \"$(scripts/setup/%s)\" first", name, script))
	return ""
}

// Boostgen returns the boostgen binary for end-to-end tests: $BOOSTGEN_BIN
// (scripts/test.sh builds it once for every package), else one built into
// the test's temporary folder.
func Boostgen(tb testing.TB) string {
	tb.Helper()
	if p := os.Getenv("BOOSTGEN_BIN"); p != "" {
		return p
	}
	p := filepath.Join(tb.TempDir(), "boostgen")
	out, err := exec.Command("go", "build", "-o", p, "github.com/boostgen/boostgen/cmd/boostgen").CombinedOutput()
	if err != nil {
		tb.Fatalf("go build ./cmd/boostgen: %v\n%s", err, out)
	}
	return p
}
