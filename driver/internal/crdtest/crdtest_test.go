package crdtest

import (
	"strings"
	"testing"
)

// The validator must reject what the API server would reject or silently
// drop, or the golden tests prove nothing.
func TestValidatorRejects(t *testing.T) {
	p, err := RayJobCRDPath()
	if err != nil {
		t.Fatal(err)
	}
	crd, err := LoadCRD(p)
	if err != nil {
		t.Fatal(err)
	}
	v, err := NewValidator(crd, "v1")
	if err != nil {
		t.Fatal(err)
	}
	const base = `apiVersion: ray.io/v1
kind: RayJob
metadata: {name: x}
spec:
  entrypoint: python -V
  clusterSelector: {ray.io/cluster: c}
`
	for _, c := range []struct {
		name, extra, wantErr string
	}{
		{"valid", "", ""},
		{"unknown field", "  entryPoint: typo\n", "unknown field spec.entryPoint"},
		{"wrong type", "  backoffLimit: many\n", "spec.backoffLimit"},
		{"bad enum-like CEL rule", "  managedBy: me\n", "managedBy field value must be"},
		{"CEL rule across fields", "  deletionStrategy: {onSuccess: {policy: DeleteCluster}}\n", "requires either BOTH onSuccess and onFailure"},
	} {
		t.Run(c.name, func(t *testing.T) {
			obj, err := Decode([]byte(base + c.extra))
			if err != nil {
				t.Fatal(err)
			}
			err = v.Validate(obj)
			switch {
			case c.wantErr == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case c.wantErr != "" && (err == nil || !strings.Contains(err.Error(), c.wantErr)):
				t.Fatalf("got %v, want an error containing %q", err, c.wantErr)
			}
		})
	}
}
