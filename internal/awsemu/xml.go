package awsemu

import (
	"bytes"
	"encoding/xml"
	"sort"
	"strconv"
	"time"
)

// node is a tiny XML element tree. Handlers build responses out of nodes
// rather than encoding/xml structs because the EC2 and awsquery shapes differ
// only in list wrappers, and a tree keeps both readable in one place.
type node struct {
	name string
	text string
	leaf bool
	omit bool
	kids []node
}

func el(name string, kids ...node) node { return node{name: name, kids: kids} }

func leaf(name, text string) node { return node{name: name, text: text, leaf: true} }

// opt omits the element when the value is empty, as AWS does for unset fields.
func opt(name, text string) node {
	if text == "" {
		return node{omit: true}
	}
	return leaf(name, text)
}

func boolLeaf(name string, b bool) node { return leaf(name, strconv.FormatBool(b)) }

func intLeaf(name string, n int) node { return leaf(name, strconv.Itoa(n)) }

// awsTime is the ISO 8601 form both protocols use for timestamps.
func awsTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

func timeLeaf(name string, t time.Time) node {
	if t.IsZero() {
		return node{omit: true}
	}
	return leaf(name, awsTime(t))
}

// set wraps EC2 list entries: <name><item>…</item>…</name>.
func set(name string, items []node) node { return el(name, items...) }

func item(kids ...node) node { return el("item", kids...) }

// members wraps awsquery list entries: <name><member>…</member>…</name>.
func members(name string, items []node) node { return el(name, items...) }

func member(kids ...node) node { return el("member", kids...) }

func memberStrings(name string, values []string) node {
	items := make([]node, 0, len(values))
	for _, v := range values {
		items = append(items, leaf("member", v))
	}
	return members(name, items)
}

func ec2TagSet(tags map[string]string) node {
	keys := sortedKeys(tags)
	items := make([]node, 0, len(keys))
	for _, k := range keys {
		items = append(items, item(leaf("key", k), leaf("value", tags[k])))
	}
	return set("tagSet", items)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func (n node) write(b *bytes.Buffer) {
	if n.omit {
		return
	}
	b.WriteByte('<')
	b.WriteString(n.name)
	b.WriteByte('>')
	if n.leaf {
		// EscapeText only fails on writer errors; bytes.Buffer never returns one.
		_ = xml.EscapeText(b, []byte(n.text))
	}
	for _, k := range n.kids {
		k.write(b)
	}
	b.WriteString("</")
	b.WriteString(n.name)
	b.WriteByte('>')
}
