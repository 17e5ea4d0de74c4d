package llmstage

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/boostgen/boostgen/internal/llm"
	llmschema "github.com/boostgen/boostgen/schemas/llm"
)

// VQAKind is one of the three multi-view VQA types of Appendix B.
type VQAKind string

const (
	Common      VQAKind = "common"
	Adversarial VQAKind = "adversarial"
	MultiChoice VQAKind = "multi_choice"
)

// VQAKinds lists the kinds in the order a pair is usually asked them.
var VQAKinds = []VQAKind{Common, Adversarial, MultiChoice}

// QA is one validated question and answer.
type QA struct {
	Kind     VQAKind `json:"kind,omitempty"`
	Question string  `json:"question"`
	// Answer is the answer text; for a multiple-choice question, the
	// correct candidate.
	Answer string `json:"answer"`
	// Candidates are the four choices (A to D) of a multiple-choice
	// question, Correct the 0-based index of the right one.
	Candidates []string `json:"candidates,omitempty"`
	Correct    int      `json:"correct,omitempty"`
}

// MultiViewVQARequest builds the first request for a pair and kind: the
// Table 10 system prompt, the kind's prompt, and both images in order.
func (g *Generator) MultiViewVQARequest(first, second llm.Image, kind VQAKind) (llm.Request, error) {
	var prompt, schema string
	switch kind {
	case Common:
		prompt, schema = g.prompts.CommonVQA, llmschema.VQAOpen
	case Adversarial:
		prompt, schema = g.prompts.AdversarialVQA, llmschema.VQAOpen
	case MultiChoice:
		prompt, schema = g.prompts.MultiChoiceVQA, llmschema.VQAMultiChoice
	default:
		return llm.Request{}, fmt.Errorf("%s: unknown VQA kind %q (want common, adversarial or multi_choice)", StageVQA, kind)
	}
	return llm.Request{
		Stage: StageVQA,
		Messages: []llm.Message{
			{Role: "system", Text: g.prompts.System},
			{Role: "user", Text: prompt, Images: []llm.Image{first, second}},
		},
		Schema: g.schemaFor(schema),
	}, nil
}

// MultiViewVQA asks one question of the given kind about an image pair.
func (g *Generator) MultiViewVQA(ctx context.Context, first, second llm.Image, kind VQAKind) (QA, error) {
	req, err := g.MultiViewVQARequest(first, second, kind)
	if err != nil {
		return QA{}, err
	}
	item := string(kind) + " " + names([]llm.Image{first, second})
	lim := g.prompts.Limits
	if kind != MultiChoice {
		var a struct {
			Question string `json:"question"`
			Answer   string `json:"answer"`
		}
		err := g.ask(ctx, req, item, llmschema.VQAOpen, &a, func() error {
			if strings.TrimSpace(a.Question) == "" {
				return errors.New("the question is empty")
			}
			return checkWords("the answer", a.Answer, lim.AnswerWords)
		})
		if err != nil {
			return QA{}, err
		}
		return QA{Kind: kind, Question: strings.TrimSpace(a.Question), Answer: strings.TrimSpace(a.Answer)}, nil
	}

	var a struct {
		Question    string   `json:"question"`
		Candidates  []string `json:"candidates"`
		AnswerIndex int      `json:"answer_index"`
	}
	err = g.ask(ctx, req, item, llmschema.VQAMultiChoice, &a, func() error {
		if strings.TrimSpace(a.Question) == "" {
			return errors.New("the question is empty")
		}
		if len(a.Candidates) != 4 {
			return fmt.Errorf("there are %d candidates; there must be exactly 4", len(a.Candidates))
		}
		seen := map[string]int{}
		for i, c := range a.Candidates {
			if err := checkWords(fmt.Sprintf("candidate %c", 'A'+i), c, lim.CandidateWords); err != nil {
				return err
			}
			// Two equal candidates would make two answers correct.
			norm := strings.ToLower(strings.Join(strings.Fields(c), " "))
			if j, dup := seen[norm]; dup {
				return fmt.Errorf("candidates %c and %c are the same; exactly one candidate may be correct", 'A'+j, 'A'+i)
			}
			seen[norm] = i
		}
		if a.AnswerIndex < 1 || a.AnswerIndex > 4 {
			return fmt.Errorf("answer_index is %d; it must be 1 to 4", a.AnswerIndex)
		}
		return nil
	})
	if err != nil {
		return QA{}, err
	}
	qa := QA{Kind: MultiChoice, Question: strings.TrimSpace(a.Question), Correct: a.AnswerIndex - 1}
	for _, c := range a.Candidates {
		qa.Candidates = append(qa.Candidates, strings.TrimSpace(c))
	}
	qa.Answer = qa.Candidates[qa.Correct]
	return qa, nil
}
