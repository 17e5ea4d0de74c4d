package cmd

import (
	"encoding/json"
	"fmt"
	"io"

	rayv1 "github.com/ray-project/kuberay/ray-operator/apis/ray/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/yaml"
)

// manifest turns a RayJob about to be created into the map kubectl would
// print: no empty status, no null creation timestamps.
func manifest(job *rayv1.RayJob) (map[string]any, error) {
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(job)
	if err != nil {
		return nil, err
	}
	delete(m, "status") // not yet created: the zero status is noise

	prune(m)
	return m, nil
}

// prune removes creationTimestamp: null and the empty structs zero values leave.
func prune(v any) {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			if k == "creationTimestamp" && e == nil {
				delete(x, k)
				continue
			}
			prune(e)
			// Only fields where empty means unset: an empty emptyDir means something.
			if mm, ok := e.(map[string]any); ok && len(mm) == 0 && (k == "resources" || k == "metadata" || k == "scaleStrategy") {
				delete(x, k)
			}
		}
	case []any:
		for _, e := range x {
			prune(e)
		}
	}
}

// printObjects writes jobs as YAML documents or as JSON (one object, or a
// v1 List for several, like kubectl).
func printObjects(w io.Writer, format string, jobs []*rayv1.RayJob, live bool) error {
	var items []any
	for _, j := range jobs {
		if live {
			items = append(items, j)
			continue
		}
		m, err := manifest(j)
		if err != nil {
			return err
		}
		items = append(items, m)
	}
	switch format {
	case "yaml":
		for i, it := range items {
			if i > 0 {
				fmt.Fprintln(w, "---")
			}
			b, err := yaml.Marshal(it)
			if err != nil {
				return err
			}
			if _, err := w.Write(b); err != nil {
				return err
			}
		}
		return nil
	case "json":
		var v any = map[string]any{"apiVersion": "v1", "kind": "List", "items": items}
		if len(items) == 1 {
			v = items[0]
		}
		b, err := json.MarshalIndent(v, "", "  ")
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(w, "%s\n", b)
		return err
	}
	return fmt.Errorf("output format %q: want yaml or json", format)
}

func validateOutput(o string) error {
	switch o {
	case "", "yaml", "json":
		return nil
	}
	return fmt.Errorf("-o %q: want yaml or json", o)
}
