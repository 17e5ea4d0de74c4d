package llmstage

import (
	_ "embed"
	"fmt"
	"os"

	"sigs.k8s.io/yaml"
)

//go:embed prompts.yaml
var defaultPrompts []byte

// Prompts are the texts the stages send and the limits their answers must
// meet. The defaults come from prompts.yaml, embedded in the binary.
type Prompts struct {
	System         string `json:"system"`
	CommonVQA      string `json:"common_vqa"`
	AdversarialVQA string `json:"adversarial_vqa"`
	MultiChoiceVQA string `json:"multi_choice_vqa"`

	CaptionSystem           string `json:"caption_system"`
	Caption                 string `json:"caption"`
	CaptionShortQuestion    string `json:"caption_short_question"`
	CaptionDetailedQuestion string `json:"caption_detailed_question"`

	ViewCheckSystem string `json:"view_check_system"`
	ViewCheck       string `json:"view_check"`

	Retry string `json:"retry"`

	Limits Limits `json:"limits"`
}

// Limits are inclusive [min, max] word counts.
type Limits struct {
	AnswerWords          [2]int `json:"answer_words"`
	CandidateWords       [2]int `json:"candidate_words"`
	ShortCaptionWords    [2]int `json:"short_caption_words"`
	DetailedCaptionWords [2]int `json:"detailed_caption_words"`
}

// DefaultPrompts returns the embedded prompts (Table 10 of the paper for
// multi-view VQA).
func DefaultPrompts() Prompts {
	var p Prompts
	if err := yaml.UnmarshalStrict(defaultPrompts, &p); err != nil {
		panic("llmstage: embedded prompts.yaml: " + err.Error())
	}
	return p
}

// LoadPrompts reads an override file: the defaults, with every key the file
// sets replaced. Unknown keys are an error, so a typo cannot silently leave
// a default in place.
func LoadPrompts(path string) (Prompts, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Prompts{}, fmt.Errorf("prompts: %w", err)
	}
	p := DefaultPrompts()
	if err := yaml.UnmarshalStrict(b, &p); err != nil {
		return Prompts{}, fmt.Errorf("prompts %s: %w", path, err)
	}
	if err := p.Validate(); err != nil {
		return Prompts{}, fmt.Errorf("prompts %s: %w", path, err)
	}
	return p, nil
}

// Validate reports an empty prompt or an impossible limit by its key.
func (p Prompts) Validate() error {
	for key, v := range map[string]string{
		"system": p.System, "common_vqa": p.CommonVQA, "adversarial_vqa": p.AdversarialVQA,
		"multi_choice_vqa": p.MultiChoiceVQA, "caption_system": p.CaptionSystem, "caption": p.Caption,
		"caption_short_question": p.CaptionShortQuestion, "caption_detailed_question": p.CaptionDetailedQuestion,
		"view_check_system": p.ViewCheckSystem, "view_check": p.ViewCheck, "retry": p.Retry,
	} {
		if v == "" {
			return fmt.Errorf("%s is empty", key)
		}
	}
	for key, l := range map[string][2]int{
		"limits.answer_words": p.Limits.AnswerWords, "limits.candidate_words": p.Limits.CandidateWords,
		"limits.short_caption_words": p.Limits.ShortCaptionWords, "limits.detailed_caption_words": p.Limits.DetailedCaptionWords,
	} {
		if l[0] < 1 || l[1] < l[0] {
			return fmt.Errorf("%s must be [min, max] with 1 <= min <= max, got %v", key, l)
		}
	}
	return nil
}
