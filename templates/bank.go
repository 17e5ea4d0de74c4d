// Package templates turns geometry into words: template banks kept as data
// files, referring expressions for objects, answer formatting, and the
// planner that lays out the 12-turn spatial chain of thought (Appendix C).
package templates

import (
	"embed"
	"fmt"
	"math/rand/v2"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"

	"sigs.k8s.io/yaml"
)

//go:embed banks/*.yaml
var embedded embed.FS

// DefaultBanks are the embedded banks, in the order they are layered: the
// paper's tables, then boostgen's second bank.
var DefaultBanks = []string{"banks/spatialboost.yaml", "banks/predicates.yaml"}

// Group is one kind of question with its possible answers: either plain
// Answers, or True and False responses for yes/no predicates.
type Group struct {
	Questions []string `json:"questions"`
	Answers   []string `json:"answers,omitempty"`
	True      []string `json:"true,omitempty"`
	False     []string `json:"false,omitempty"`
}

type bankFile struct {
	Name   string           `json:"name"`
	Groups map[string]Group `json:"groups"`
}

// Bank is the set of groups the planner draws from, after layering files.
type Bank struct {
	Groups map[string]Group
	// Source names the file each group came from, for messages and meta.
	Source map[string]string
}

var placeholder = regexp.MustCompile(`\[[A-Z]\]`)

// known placeholders: points or objects, values, and a view number.
var knownPlaceholders = map[string]bool{"[A]": true, "[B]": true, "[X]": true, "[Y]": true, "[V]": true}

// requiredGroups are the groups the planner uses and the placeholders each
// turn binds; a bank must offer every one of them a usable question and
// answer.
var requiredGroups = map[string][]string{
	"single_point":     {"[A]", "[X]"},
	"close_predicate":  {"[A]", "[B]"},
	"bounding_cube":    {"[A]", "[X]"},
	"left_predicate":   {"[A]", "[B]"},
	"above_predicate":  {"[A]", "[B]"},
	"behind_predicate": {"[A]", "[B]"},
	"taller_predicate": {"[A]", "[B]"},
	"wider_predicate":  {"[A]", "[B]"},
	"bigger_predicate": {"[A]", "[B]"},
	"distance":         {"[A]", "[B]", "[X]"},
	"caption_short":    {},
	"caption_detailed": {},
	"view_prefix":      {"[V]"},
}

// LoadBanks reads the embedded banks, then each file in extra (a user's own
// bank); a later file's group replaces an earlier one's of the same name.
func LoadBanks(extra []string) (*Bank, error) {
	b := &Bank{Groups: map[string]Group{}, Source: map[string]string{}}
	for _, name := range DefaultBanks {
		data, err := embedded.ReadFile(name)
		if err != nil {
			return nil, err
		}
		if err := b.add("embedded "+name, data); err != nil {
			return nil, err
		}
	}
	for _, path := range extra {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("template bank: %w", err)
		}
		if err := b.add(path, data); err != nil {
			return nil, err
		}
	}
	return b, b.check()
}

func (b *Bank) add(src string, data []byte) error {
	var f bankFile
	if err := yaml.UnmarshalStrict(data, &f); err != nil {
		return fmt.Errorf("template bank %s: %w", src, err)
	}
	for name, g := range f.Groups {
		for _, s := range slicesOf(g) {
			for _, p := range placeholder.FindAllString(s, -1) {
				if !knownPlaceholders[p] {
					return fmt.Errorf("template bank %s: group %s: unknown placeholder %s in %q", src, name, p, s)
				}
			}
		}
		b.Groups[name] = g
		b.Source[name] = src
	}
	return nil
}

func slicesOf(g Group) []string {
	out := append([]string{}, g.Questions...)
	out = append(out, g.Answers...)
	out = append(out, g.True...)
	return append(out, g.False...)
}

// check makes sure every group the planner needs can produce a turn.
func (b *Bank) check() error {
	names := make([]string, 0, len(requiredGroups))
	for n := range requiredGroups {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		g, ok := b.Groups[name]
		if !ok {
			return fmt.Errorf("template bank: no group %q (the planner needs it)", name)
		}
		bound := requiredGroups[name]
		if len(usable(g.Questions, bound)) == 0 {
			return fmt.Errorf("template bank %s: group %s: no question uses only %v", b.Source[name], name, bound)
		}
		if strings.HasSuffix(name, "_predicate") {
			if len(usable(g.True, bound)) == 0 || len(usable(g.False, bound)) == 0 {
				return fmt.Errorf("template bank %s: group %s: needs true and false responses using only %v", b.Source[name], name, bound)
			}
		} else if !strings.HasPrefix(name, "caption_") && name != "view_prefix" && len(usable(g.Answers, bound)) == 0 {
			return fmt.Errorf("template bank %s: group %s: no answer uses only %v", b.Source[name], name, bound)
		}
	}
	return nil
}

// usable returns the indices of templates whose placeholders are all bound.
func usable(list []string, bound []string) []int {
	var out []int
outer:
	for n, s := range list {
		for _, p := range placeholder.FindAllString(s, -1) {
			if !slices.Contains(bound, p) {
				continue outer
			}
		}
		out = append(out, n)
	}
	return out
}

// pick chooses one usable template; ok=false when none is usable.
func pick(rng *rand.Rand, list []string, bound []string) (int, bool) {
	u := usable(list, bound)
	if len(u) == 0 {
		return 0, false
	}
	return u[rng.IntN(len(u))], true
}

// Fill substitutes placeholders. Object names (kind "object") get "the"
// unless the template already says "the [A]", and a sentence that starts
// with a placeholder is capitalized.
func Fill(tmpl string, vals map[string]string, objects map[string]bool) string {
	var b strings.Builder
	last := 0
	for _, loc := range placeholder.FindAllStringIndex(tmpl, -1) {
		b.WriteString(tmpl[last:loc[0]])
		key := tmpl[loc[0]:loc[1]]
		v, ok := vals[key]
		if !ok {
			v = key
		}
		if objects[key] {
			before := strings.ToLower(tmpl[:loc[0]])
			if !strings.HasSuffix(before, "the ") {
				v = "the " + v
			}
		}
		b.WriteString(v)
		last = loc[1]
	}
	b.WriteString(tmpl[last:])
	return capitalizeFirst(b.String())
}

func capitalizeFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// lowerFirst lowercases a question's first letter when it is put after a
// prefix, unless the first word is an acronym.
func lowerFirst(s string) string {
	if s == "" || len(s) > 1 && s[1] >= 'A' && s[1] <= 'Z' {
		return s
	}
	return strings.ToLower(s[:1]) + s[1:]
}
