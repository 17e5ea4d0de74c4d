package llm

import (
	"errors"
	"fmt"

	openai "github.com/sashabaranov/go-openai"
)

// ErrBudget means the configured budget_usd is spent. Nothing is lost:
// every answer so far is cached, so a later run with a larger budget goes
// on where this one stopped.
var ErrBudget = errors.New("llm: budget reached")

// cost is the estimated USD price of the given tokens; discount is 1 for
// synchronous requests and BatchDiscount for batch ones.
func (c *Client) cost(prompt, completion int, discount float64) float64 {
	return discount * (float64(prompt)*c.cfg.PriceInputPer1M + float64(completion)*c.cfg.PriceOutputPer1M) / 1e6
}

func (c *Client) estimateCost(body openai.ChatCompletionRequest, discount float64) float64 {
	return c.cost(estimateTokens(body), 0, discount)
}

// EstimateUSD is what req is expected to cost before it is sent (at the
// batch price when batch is true), from a rough token count of its text and
// images plus max_tokens; the budget admits requests by this estimate.
func (c *Client) EstimateUSD(req Request, batch bool) (float64, error) {
	body, err := c.buildRequest(req)
	if err != nil {
		return 0, err
	}
	d := 1.0
	if batch {
		d = c.cfg.BatchDiscount
	}
	return c.estimateCost(body, d), nil
}

// reserve admits a request if the budget allows it. Spending counts what
// finished requests cost plus what those in flight are expected to cost,
// so concurrent workers cannot all slip past the limit together.
func (c *Client) reserve(est float64) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if spent := c.elsewhere + c.paid; c.cfg.BudgetUSD > 0 && spent+c.reserved >= c.cfg.BudgetUSD {
		return fmt.Errorf("%w: spent $%.4f of $%.4f", ErrBudget, spent, c.cfg.BudgetUSD)
	}
	c.reserved += est
	return nil
}

func (c *Client) release(est float64) {
	c.mu.Lock()
	c.reserved -= est
	c.mu.Unlock()
}

func (c *Client) charge(stage string, r Response, discount float64) {
	usd := c.cost(r.PromptTokens, r.CompletionTokens, discount)
	c.mu.Lock()
	c.paid += usd
	c.mu.Unlock()
	c.addUsage(stage, func(u *Usage) {
		u.Requests++
		u.PromptTokens += int64(r.PromptTokens)
		u.CompletionTokens += int64(r.CompletionTokens)
		u.CostUSD += usd
	})
}

func (c *Client) addUsage(stage string, f func(*Usage)) {
	stage = stageName(stage)
	c.mu.Lock()
	defer c.mu.Unlock()
	u := c.usage[stage]
	if u == nil {
		u = &Usage{}
		c.usage[stage] = u
	}
	f(u)
}

// Usage returns a copy of the tally per stage.
func (c *Client) Usage() map[string]Usage {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]Usage, len(c.usage))
	for k, v := range c.usage {
		out[k] = *v
	}
	return out
}

// SpentUSD is the estimated cost of everything this client has paid for,
// plus what was spent elsewhere against the same budget (Options.SpentUSD,
// or the latest SetSpentElsewhereUSD).
func (c *Client) SpentUSD() float64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.elsewhere + c.paid
}

// PaidUSD is the estimated cost of what this client has paid for.
func (c *Client) PaidUSD() float64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.paid
}

// SetSpentElsewhereUSD replaces Options.SpentUSD: what other clients spent
// against the same budget, such as shard processes running at the same
// time, whose spend a caller reads while they run. Requests admitted from
// now on count it.
func (c *Client) SetSpentElsewhereUSD(usd float64) {
	c.mu.Lock()
	c.elsewhere = usd
	c.mu.Unlock()
}
