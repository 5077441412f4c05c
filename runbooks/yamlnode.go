package runbooks

import (
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Helpers to read a mapping node that has already passed the shape check.
// They never panic on a node of the wrong kind: they return nothing, and
// the shape check has already said what was wrong.

type entry struct {
	key, value *yaml.Node
}

func entries(n *yaml.Node) []entry {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	out := make([]entry, 0, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		out = append(out, entry{n.Content[i], n.Content[i+1]})
	}
	return out
}

func lookup(n *yaml.Node, key string) (k, v *yaml.Node) {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil, nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i], n.Content[i+1]
		}
	}
	return nil, nil
}

func scalar(n *yaml.Node, key string) string {
	_, v := lookup(n, key)
	if v == nil || v.Kind != yaml.ScalarNode || v.Tag == "!!null" {
		return ""
	}
	return v.Value
}

func scalarNode(n *yaml.Node, key string) *yaml.Node {
	_, v := lookup(n, key)
	if v == nil || v.Kind != yaml.ScalarNode || v.Tag == "!!null" {
		return nil
	}
	return v
}

func boolField(n *yaml.Node, key string) (value, present bool) {
	v := scalarNode(n, key)
	if v == nil || v.Tag != "!!bool" {
		return false, false
	}
	b, err := strconv.ParseBool(strings.ToLower(v.Value))
	return b && err == nil, err == nil
}

func intField(n *yaml.Node, key string) (int, bool) {
	v := scalarNode(n, key)
	if v == nil || v.Tag != "!!int" {
		return 0, false
	}
	i, err := strconv.Atoi(v.Value)
	return i, err == nil
}

func stringList(n *yaml.Node) []string {
	if n == nil || n.Kind != yaml.SequenceNode {
		return nil
	}
	out := make([]string, 0, len(n.Content))
	for _, c := range n.Content {
		if c.Kind == yaml.ScalarNode {
			out = append(out, c.Value)
		}
	}
	return out
}

// posInScalar places a byte offset inside a scalar's value in the file.
// It is exact for single-line plain and quoted scalars (the usual form of
// expressions) and falls back to the scalar's own position otherwise.
func posInScalar(n *yaml.Node, offset int) Pos {
	p := nodePos(n)
	if strings.ContainsRune(n.Value, '\n') || offset < 0 || offset > len(n.Value) {
		return p
	}
	switch n.Style {
	case 0, yaml.TaggedStyle:
		p.Column += len([]rune(n.Value[:offset]))
	case yaml.DoubleQuotedStyle, yaml.SingleQuotedStyle:
		p.Column += 1 + len([]rune(n.Value[:offset]))
	}
	return p
}
