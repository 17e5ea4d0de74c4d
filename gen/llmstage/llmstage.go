// Package llmstage holds the GPT-4o stages of the SpatialBoost data
// pipeline as plain library calls: multi-view VQA for an image pair
// (Appendix B), the two caption turns (Appendix C), and the check that
// expands 2-view anchors to 4 and 8 views (Appendix C, "Expand Viewpoints").
//
// Every answer is asked for with Structured Outputs and then validated. An
// answer that fails gets exactly one retry whose prompt quotes the failure;
// a second failure becomes a *RejectError carrying the reason. Each stage
// has a ...Request function that builds its first request without sending
// it, so a pipeline can answer them all through llm.Client.RunBatch at half
// price and then call the stage, which finds the answer in the cache.
package llmstage

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/boostgen/boostgen/internal/llm"
	llmschema "github.com/boostgen/boostgen/schemas/llm"
)

// Stage names, used for usage accounting and in errors.
const (
	StageVQA       = "mv_vqa"
	StageCaption   = "caption"
	StageViewCheck = "view_check"
)

// ErrRejected is matched (errors.Is) by every *RejectError.
var ErrRejected = errors.New("answer rejected")

// RejectError is an answer that failed validation twice. The item is skipped;
// the run goes on.
type RejectError struct {
	Stage  string // StageVQA, ...
	Item   string // the images involved, by name
	Reason string // why the retried answer failed
	First  string // why the first answer failed
}

func (e *RejectError) Error() string {
	return fmt.Sprintf("%s %s: answer rejected after one retry: %s (first answer: %s)", e.Stage, e.Item, e.Reason, e.First)
}

func (e *RejectError) Is(target error) bool { return target == ErrRejected }

// Generator runs the stages with one client and one set of prompts.
type Generator struct {
	client  *llm.Client
	prompts Prompts
	schemas map[string]schema
}

type schema struct {
	raw      json.RawMessage
	compiled *jsonschema.Schema
}

// New returns a generator; p is usually DefaultPrompts() or LoadPrompts(path).
func New(client *llm.Client, p Prompts) (*Generator, error) {
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("prompts: %w", err)
	}
	g := &Generator{client: client, prompts: p, schemas: map[string]schema{}}
	c := jsonschema.NewCompiler()
	for _, name := range []string{llmschema.VQAOpen, llmschema.VQAMultiChoice, llmschema.Caption, llmschema.ViewCheck} {
		raw, err := llmschema.Load(name)
		if err != nil {
			return nil, err
		}
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
		if err != nil {
			return nil, fmt.Errorf("schema %s: %w", name, err)
		}
		if err := c.AddResource(name+".json", doc); err != nil {
			return nil, fmt.Errorf("schema %s: %w", name, err)
		}
		sch, err := c.Compile(name + ".json")
		if err != nil {
			return nil, fmt.Errorf("schema %s: %w", name, err)
		}
		g.schemas[name] = schema{raw: raw, compiled: sch}
	}
	return g, nil
}

func (g *Generator) schemaFor(name string) *llm.Schema {
	return &llm.Schema{Name: name, JSON: g.schemas[name].raw}
}

// ask sends req and decodes the answer into out, which check then judges.
// A failed answer is asked for once more, the reason quoted; a second
// failure is a *RejectError. Errors from the client (budget, quota, the
// network) are returned as they are: they are not the answer's fault.
func (g *Generator) ask(ctx context.Context, req llm.Request, item, schemaName string, out any, check func() error) error {
	resp, err := g.client.Chat(ctx, req)
	if err != nil {
		return err
	}
	first := g.judge(resp, schemaName, out, check)
	if first == nil {
		return nil
	}
	reply := resp.Content
	if reply == "" {
		reply = resp.Refusal
	}
	retry := req
	retry.Messages = append(append([]llm.Message(nil), req.Messages...),
		llm.Message{Role: "assistant", Text: reply},
		llm.Message{Role: "user", Text: strings.ReplaceAll(g.prompts.Retry, "{reason}", first.Error())},
	)
	resp, err = g.client.Chat(ctx, retry)
	if err != nil {
		return err
	}
	if second := g.judge(resp, schemaName, out, check); second != nil {
		return &RejectError{Stage: req.Stage, Item: item, Reason: second.Error(), First: first.Error()}
	}
	return nil
}

// judge applies, in order: refusal, truncation, JSON syntax, the schema,
// then the stage's own rules.
func (g *Generator) judge(resp llm.Response, schemaName string, out any, check func() error) error {
	switch {
	case resp.Refusal != "":
		return fmt.Errorf("the model refused: %s", resp.Refusal)
	case resp.FinishReason == "length":
		return errors.New("the answer was cut off at the token limit")
	case strings.TrimSpace(resp.Content) == "":
		return errors.New("the answer is empty")
	}
	doc, err := jsonschema.UnmarshalJSON(strings.NewReader(resp.Content))
	if err != nil {
		return fmt.Errorf("the answer is not valid JSON: %v", err)
	}
	if err := g.schemas[schemaName].compiled.Validate(doc); err != nil {
		return fmt.Errorf("the answer does not match the %s schema: %s", schemaName, schemaMessage(err))
	}
	if err := json.Unmarshal([]byte(resp.Content), out); err != nil {
		return fmt.Errorf("the answer does not match the %s schema: %v", schemaName, err)
	}
	return check()
}

// schemaMessage flattens the validator's indented list into one line.
func schemaMessage(err error) string {
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return err.Error()
	}
	lines := strings.Split(strings.TrimSpace(ve.Error()), "\n")
	if len(lines) > 1 {
		lines = lines[1:] // "jsonschema validation failed with 'file:///...'"
	}
	for i, l := range lines {
		lines[i] = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(l), "- "))
	}
	return strings.Join(lines, "; ")
}

func wordCount(s string) int { return len(strings.Fields(s)) }

func checkWords(what, s string, limit [2]int) error {
	n := wordCount(s)
	if n < limit[0] || n > limit[1] {
		return fmt.Errorf("%s has %d words; it must have %d to %d", what, n, limit[0], limit[1])
	}
	return nil
}

func names(images []llm.Image) string {
	n := make([]string, len(images))
	for i, im := range images {
		n[i] = im.Name
		if n[i] == "" {
			n[i] = fmt.Sprintf("image %d", i+1)
		}
	}
	return "(" + strings.Join(n, ", ") + ")"
}
