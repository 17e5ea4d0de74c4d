package llmtest

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"

	openai "github.com/sashabaranov/go-openai"
)

// SchemaName is the name of the Structured Outputs schema a request asks
// for ("vqa_open", "caption", ...), or "".
func SchemaName(req openai.ChatCompletionRequest) string {
	if rf := req.ResponseFormat; rf != nil && rf.JSONSchema != nil {
		return rf.JSONSchema.Name
	}
	return ""
}

// RequestText is every text part of a request's messages, joined by
// newlines.
func RequestText(req openai.ChatCompletionRequest) string {
	var parts []string
	for _, m := range req.Messages {
		if m.Content != "" {
			parts = append(parts, m.Content)
		}
		for _, p := range m.MultiContent {
			if p.Type == openai.ChatMessagePartTypeText {
				parts = append(parts, p.Text)
			}
		}
	}
	return strings.Join(parts, "\n")
}

// Images is the number of images a request carries.
func Images(req openai.ChatCompletionRequest) int {
	n := 0
	for _, m := range req.Messages {
		for _, p := range m.MultiContent {
			if p.Type == openai.ChatMessagePartTypeImageURL {
				n++
			}
		}
	}
	return n
}

var numberedPair = regexp.MustCompile(`(?m)^(\d+)\. Q: `)

// ViewCheckAnswer answers a view_check request (gen/llmstage.CheckView)
// with one verdict per numbered QA pair in its text; holds decides each
// (pairs numbered from 1).
func ViewCheckAnswer(req openai.ChatCompletionRequest, holds func(qa int) bool) string {
	type verdict struct {
		QAIndex int    `json:"qa_index"`
		Holds   bool   `json:"holds"`
		Reason  string `json:"reason"`
	}
	out := struct {
		Verdicts []verdict `json:"verdicts"`
	}{Verdicts: []verdict{}}
	for _, m := range numberedPair.FindAllStringSubmatch(RequestText(req), -1) {
		var n int
		fmt.Sscan(m[1], &n)
		h := holds(n)
		reason := "the new view shows the same objects"
		if !h {
			reason = "the new view hides what the answer describes"
		}
		out.Verdicts = append(out.Verdicts, verdict{QAIndex: n, Holds: h, Reason: reason})
	}
	b, _ := json.Marshal(out)
	return string(b)
}

// StageAnswer answers any request of boostgen's GPT stages with content
// that passes the stage's schema and rules (the default prompts' word
// limits), chosen by the request's schema name: vqa_open, vqa_multi_choice,
// caption and view_check (every pair holds). It is deterministic.
func StageAnswer(req openai.ChatCompletionRequest) (string, error) {
	var v any
	switch name := SchemaName(req); name {
	case "vqa_open":
		v = map[string]string{
			"question": "What object appears in both images, and how does its position change between them?",
			"answer":   "The same large box appears in both images; in the second image it sits further to the left because the camera moved right.",
		}
	case "vqa_multi_choice":
		v = map[string]any{
			"question": "Which object is visible in both images?",
			"candidates": []string{
				"A red box standing on the floor",
				"A blue sphere resting near the wall",
				"A green cylinder lying on its side",
				"A yellow chair beside the window",
			},
			"answer_index": 1,
		}
	case "caption":
		v = map[string]string{
			"short_caption": "An indoor scene with several colored objects on a plain floor.",
			"detailed_caption": "An indoor scene seen from a standing height, with a plain floor that fills the lower half of the image. " +
				"Several simple objects in solid colors rest on the floor at different distances from the camera, " +
				"some partly hiding others, and the lighting is even with soft shading on every surface.",
		}
	case "view_check":
		return ViewCheckAnswer(req, func(int) bool { return true }), nil
	default:
		return "", fmt.Errorf("llmtest: no stage answer for response schema %q", name)
	}
	b, err := json.Marshal(v)
	return string(b), err
}
