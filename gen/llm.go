package gen

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/boostgen/boostgen/gen/llmstage"
	"github.com/boostgen/boostgen/internal/llm"
)

// LLMConfig is the llm section: the endpoint and its limits (the keys of
// llm.Config, inline), a prompts override file, and which GPT stages run.
type LLMConfig struct {
	llm.Config
	// Prompts names a file overriding gen/llmstage/prompts.yaml.
	Prompts string    `json:"prompts,omitempty"`
	Stages  LLMStages `json:"stages"`
	// Batch answers the stages' requests through the Batch API (half
	// price, answers within the completion window) before the items are
	// processed (gen/llmbatch.go).
	Batch bool `json:"batch,omitempty"`
	// BudgetSync is how often a run publishes its spend under llm/spent/
	// and reads the other runs' (shards running at once), default 2s: the
	// budget's overshoot grows with it (docs/llm.md).
	BudgetSync llm.Duration `json:"budget_sync,omitempty"`
}

// LLMStages selects the GPT stages.
type LLMStages struct {
	// Captions fills the two caption turns of spatial records whose source
	// has none. Default true.
	Captions *bool `json:"captions,omitempty"`
	// VQA lists the multi-view VQA kinds asked of each view pair of a
	// multi-view item (common, adversarial, multi_choice); [] turns the
	// stage off. Default all three.
	VQA []string `json:"vqa,omitempty"`
	// Interpolation expands each 2-view VQA pair to 4 and 8 views with the
	// frames between its views that GPT verifies. Default true.
	Interpolation *bool `json:"interpolation,omitempty"`
}

func (c *LLMConfig) applyDefaults() {
	if c.BudgetSync == 0 {
		c.BudgetSync = llm.Duration(2 * time.Second)
	}
	s := &c.Stages
	if s.Captions == nil {
		s.Captions = ptr(true)
	}
	if s.VQA == nil {
		for _, k := range llmstage.VQAKinds {
			s.VQA = append(s.VQA, string(k))
		}
	}
	if s.Interpolation == nil {
		s.Interpolation = ptr(len(s.VQA) > 0)
	}
}

func (c *LLMConfig) check() error {
	if err := c.Config.Validate(); err != nil {
		return err
	}
	if c.BudgetSync < 0 {
		return fmt.Errorf("llm.budget_sync: %v must not be negative", c.BudgetSync.D())
	}
	seen := map[string]bool{}
	for _, k := range c.Stages.VQA {
		if seen[k] {
			return fmt.Errorf("llm.stages.vqa: %q is listed twice", k)
		}
		seen[k] = true
	}
	if *c.Stages.Interpolation && len(c.Stages.VQA) == 0 {
		return fmt.Errorf("llm.stages.interpolation: needs the QA pairs of llm.stages.vqa, which is empty")
	}
	return nil
}

// MarshalJSON writes what changes the records: endpoint, model, request
// settings, prompts and stages. Limits, retries, prices, the budget, batch
// mode and where the key comes from change only how a run goes, so they stay out of
// the config hash and a resumed run may change them.
func (c LLMConfig) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		BaseURL     string    `json:"base_url"`
		Model       string    `json:"model"`
		APIType     string    `json:"api_type,omitempty"`
		APIVersion  string    `json:"api_version,omitempty"`
		Detail      string    `json:"detail,omitempty"`
		Temperature float32   `json:"temperature,omitempty"`
		MaxTokens   int       `json:"max_tokens,omitempty"`
		Seed        *int      `json:"seed,omitempty"`
		Prompts     string    `json:"prompts,omitempty"`
		Stages      LLMStages `json:"stages"`
	}{c.BaseURL, c.Model, c.APIType, c.APIVersion, c.Detail, c.Temperature, c.MaxTokens, c.Seed, c.Prompts, c.Stages})
}
