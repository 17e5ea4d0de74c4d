package llmstage

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/boostgen/boostgen/internal/llm"
	llmschema "github.com/boostgen/boostgen/schemas/llm"
)

// Turn is one question and answer of a training conversation.
type Turn struct {
	Question string `json:"question"`
	Answer   string `json:"answer"`
}

// CaptionRequest builds the request for the caption turns of an image or a
// view set. Both captions come from one request, so the images are paid for
// once.
func (g *Generator) CaptionRequest(views []llm.Image) (llm.Request, error) {
	if len(views) == 0 {
		return llm.Request{}, fmt.Errorf("%s: no images", StageCaption)
	}
	subject := "this image"
	if len(views) > 1 {
		subject = fmt.Sprintf("these %d images of the same scene", len(views))
	}
	return llm.Request{
		Stage: StageCaption,
		Messages: []llm.Message{
			{Role: "system", Text: g.prompts.CaptionSystem},
			{Role: "user", Text: strings.ReplaceAll(g.prompts.Caption, "{views}", subject), Images: views},
		},
		Schema: g.schemaFor(llmschema.Caption),
	}, nil
}

// Captions returns the two caption turns that end each conversation
// (turns 11 and 12 of Appendix C): a short description, then a detailed one.
func (g *Generator) Captions(ctx context.Context, views []llm.Image) ([2]Turn, error) {
	req, err := g.CaptionRequest(views)
	if err != nil {
		return [2]Turn{}, err
	}
	var a struct {
		Short    string `json:"short_caption"`
		Detailed string `json:"detailed_caption"`
	}
	lim := g.prompts.Limits
	err = g.ask(ctx, req, names(views), llmschema.Caption, &a, func() error {
		if err := checkWords("the short caption", a.Short, lim.ShortCaptionWords); err != nil {
			return err
		}
		if err := checkWords("the detailed caption", a.Detailed, lim.DetailedCaptionWords); err != nil {
			return err
		}
		if wordCount(a.Detailed) <= wordCount(a.Short) {
			return errors.New("the detailed caption must be longer than the short one")
		}
		return nil
	})
	if err != nil {
		return [2]Turn{}, err
	}
	return [2]Turn{
		{Question: g.prompts.CaptionShortQuestion, Answer: strings.TrimSpace(a.Short)},
		{Question: g.prompts.CaptionDetailedQuestion, Answer: strings.TrimSpace(a.Detailed)},
	}, nil
}
