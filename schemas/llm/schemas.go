// Package llmschema holds the JSON Schemas the GPT stages ask for with
// Structured Outputs (strict mode). They are kept as plain JSON files so
// they can be read, diffed and reused outside Go; strict mode requires every
// object to list all its properties as required and to forbid others, and
// supports only a subset of JSON Schema, so the finer rules (word counts,
// four candidates) are checked by package gen/llmstage after the reply.
package llmschema

import (
	"embed"
	"encoding/json"
	"fmt"
)

//go:embed *.json
var files embed.FS

// Names of the schemas, without the .json extension.
const (
	VQAOpen        = "vqa_open"
	VQAMultiChoice = "vqa_multi_choice"
	Caption        = "caption"
	ViewCheck      = "view_check"
)

// Load returns the schema called name.
func Load(name string) (json.RawMessage, error) {
	b, err := files.ReadFile(name + ".json")
	if err != nil {
		return nil, fmt.Errorf("llmschema: no schema %q", name)
	}
	if !json.Valid(b) {
		return nil, fmt.Errorf("llmschema: %s.json is not valid JSON", name)
	}
	return b, nil
}
