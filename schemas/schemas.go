// Package schemas holds boostgen's JSON Schemas — the run configuration, a
// shard record, and the dataset manifest — embedded so that the binary, the
// validator and the tests all check against the same files users read.
package schemas

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

//go:embed *.schema.json
var files embed.FS

// Names of the embedded schemas.
const (
	Config   = "config.schema.json"
	Record   = "record.schema.json"
	Manifest = "manifest.schema.json"
)

var (
	once     sync.Once
	compiled map[string]*jsonschema.Schema
	loadErr  error
)

func load() {
	c := jsonschema.NewCompiler()
	entries, err := files.ReadDir(".")
	if err != nil {
		loadErr = err
		return
	}
	for _, e := range entries {
		b, _ := files.ReadFile(e.Name())
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
		if err != nil {
			loadErr = fmt.Errorf("schemas: %s: %w", e.Name(), err)
			return
		}
		if err := c.AddResource(e.Name(), doc); err != nil {
			loadErr = err
			return
		}
	}
	compiled = map[string]*jsonschema.Schema{}
	for _, e := range entries {
		s, err := c.Compile(e.Name())
		if err != nil {
			loadErr = fmt.Errorf("schemas: %s: %w", e.Name(), err)
			return
		}
		compiled[e.Name()] = s
	}
}

// Raw returns a schema file's bytes.
func Raw(name string) ([]byte, error) { return files.ReadFile(name) }

// Violation is one place where a document breaks its schema.
type Violation struct {
	Path    string // "source.synthetic.sets[0].views", "" for the document itself
	Message string
}

func (v Violation) String() string {
	if v.Path == "" {
		return v.Message
	}
	return v.Path + ": " + v.Message
}

// Error lists every violation of one document.
type Error struct{ Violations []Violation }

func (e *Error) Error() string {
	s := make([]string, len(e.Violations))
	for n, v := range e.Violations {
		s[n] = v.String()
	}
	return strings.Join(s, "; ")
}

// Validate checks a decoded JSON document (maps, slices, float64 or
// json.Number, strings, bools) against the named schema.
func Validate(name string, doc any) error {
	once.Do(load)
	if loadErr != nil {
		return loadErr
	}
	s, ok := compiled[name]
	if !ok {
		return fmt.Errorf("schemas: no schema %q", name)
	}
	err := s.Validate(doc)
	if err == nil {
		return nil
	}
	ve, ok := err.(*jsonschema.ValidationError)
	if !ok {
		return err
	}
	var out []Violation
	collect(ve, &out)
	sort.SliceStable(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return &Error{Violations: dedupe(out)}
}

// ValidateJSON parses data and validates it.
func ValidateJSON(name string, data []byte) error {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		return fmt.Errorf("not valid JSON: %w", err)
	}
	return Validate(name, doc)
}

// collect walks to the leaves of the error tree: they name the precise
// location and reason ("additional properties 'x' not allowed").
func collect(e *jsonschema.ValidationError, out *[]Violation) {
	if len(e.Causes) == 0 {
		*out = append(*out, Violation{Path: dotted(e.InstanceLocation), Message: leafMessage(e)})
		return
	}
	for _, c := range e.Causes {
		collect(c, out)
	}
}

func leafMessage(e *jsonschema.ValidationError) string {
	msg := e.Error()
	// The library prefixes "at '/x/y': "; the path is reported separately.
	if i := strings.Index(msg, "': "); strings.HasPrefix(msg, "at '") && i > 0 {
		msg = msg[i+3:]
	}
	msg = strings.TrimPrefix(msg, "jsonschema validation failed with ")
	if strings.HasPrefix(msg, "additional properties ") {
		msg = "unknown key " + strings.TrimSuffix(strings.TrimPrefix(msg, "additional properties "), " not allowed")
	}
	return msg
}

func dotted(loc []string) string {
	var b strings.Builder
	for _, p := range loc {
		if _, err := fmt.Sscanf(p, "%d", new(int)); err == nil && !strings.ContainsAny(p, ".-") {
			b.WriteString("[" + p + "]")
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(p)
	}
	return b.String()
}

func dedupe(v []Violation) []Violation {
	var out []Violation
	seen := map[string]bool{}
	for _, x := range v {
		if !seen[x.String()] {
			seen[x.String()] = true
			out = append(out, x)
		}
	}
	return out
}

// Decode unmarshals JSON into v refusing unknown fields: the schema allows
// nothing the Go types do not know.
func Decode(data []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(data))
	d.DisallowUnknownFields()
	return d.Decode(v)
}
