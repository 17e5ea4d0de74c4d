package synthetic

import (
	"fmt"
	"sort"
	"strings"
)

// Captions writes the scene's two caption answers (a short description and
// a detailed one) from its scene graph, mentioning only objects visible in
// at least one view, so every sentence is true of the images.
func (s *Scene) Captions(visible map[int]bool) (short, detailed string) {
	var objs []*Object
	for k := range s.Objects {
		if visible[s.Objects[k].ID] {
			objs = append(objs, &s.Objects[k])
		}
	}
	count := map[string]int{}
	var order []string
	for _, o := range objs {
		if count[o.Label] == 0 {
			order = append(order, o.Label)
		}
		count[o.Label]++
	}
	var parts []string
	for _, l := range order {
		if count[l] == 1 {
			parts = append(parts, article(l)+" "+l)
		} else {
			parts = append(parts, numberWord(count[l])+" "+plural(l))
		}
	}
	walls := ""
	switch len(s.Walls) {
	case 0:
	case 1:
		walls = " and a wall behind"
	default:
		walls = fmt.Sprintf(" and %s walls", numberWord(len(s.Walls)))
	}
	short = fmt.Sprintf("An indoor scene with %s %s floor%s, holding %s %s: %s.",
		article(s.FloorColor), s.FloorColor, walls, numberWord(len(objs)), pluralize("object", len(objs)), joinList(parts))

	ref := func(o *Object) string {
		if count[o.Label] > 1 {
			return "one of the " + plural(o.Label)
		}
		return "the " + o.Label
	}
	var sent []string
	floorCount := map[string]int{}
	for _, o := range objs {
		if o.Support == 0 {
			floorCount[o.Label]++
			continue
		}
		sup := &s.Objects[o.Support-1]
		if visible[sup.ID] {
			sent = append(sent, capitalize(ref(o))+" rests on top of "+ref(sup)+".")
		} else {
			sent = append(sent, capitalize(ref(o))+" rests on top of another object.")
		}
	}
	var onFloor []string
	floorTotal := 0
	for _, l := range order {
		c := floorCount[l]
		floorTotal += c
		switch {
		case c == 0:
		case count[l] == 1:
			onFloor = append(onFloor, "the "+l)
		case c == count[l]:
			onFloor = append(onFloor, "the "+numberWord(c)+" "+plural(l))
		case c == 1:
			onFloor = append(onFloor, "one of the "+plural(l))
		default:
			onFloor = append(onFloor, numberWord(c)+" of the "+plural(l))
		}
	}
	if len(onFloor) > 0 {
		verb := "stands"
		if floorTotal > 1 {
			verb = "stand"
		}
		sent = append(sent, capitalize(joinList(onFloor))+" "+verb+" directly on the floor.")
	}
	if len(objs) > 1 {
		byH := append([]*Object(nil), objs...)
		sort.SliceStable(byH, func(i, j int) bool { return byH[i].Size[2] > byH[j].Size[2] })
		if byH[0].Size[2] > byH[1].Size[2]+0.05 && count[byH[0].Label] == 1 {
			sent = append(sent, fmt.Sprintf("The tallest object is the %s.", byH[0].Label))
		}
	}
	detailed = strings.Join(sent, " ")
	return short, detailed
}

func article(w string) string {
	if w != "" && strings.ContainsRune("aeiou", rune(w[0])) {
		return "an"
	}
	return "a"
}

func plural(label string) string {
	if strings.HasSuffix(label, "x") {
		return label + "es"
	}
	return label + "s"
}

func pluralize(w string, n int) string {
	if n == 1 {
		return w
	}
	return w + "s"
}

func numberWord(n int) string {
	words := []string{"no", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"}
	if n >= 0 && n < len(words) {
		return words[n]
	}
	return fmt.Sprint(n)
}

func joinList(p []string) string {
	switch len(p) {
	case 0:
		return ""
	case 1:
		return p[0]
	}
	return strings.Join(p[:len(p)-1], ", ") + " and " + p[len(p)-1]
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
