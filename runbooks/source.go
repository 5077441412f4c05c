package runbooks

import (
	"bytes"
	"errors"
	"io"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// Limits on what a runbook file may be. Runbooks are short documents
// written by people; anything beyond these is a mistake or an attack, and
// is refused before the YAML parser can spend time or memory on it.
const (
	MaxFileSize = 1 << 20 // bytes
	maxDepth    = 32      // nested mappings and lists
)

// parseYAML turns source bytes into the document's root mapping node, or
// reports why it cannot: one clear, positioned diagnostic per problem.
func parseYAML(d *diags, src []byte) *yaml.Node {
	if len(src) > MaxFileSize {
		d.add(CodeFileTooLarge, Pos{1, 1}, "split it into several runbooks joined with uses:",
			"runbook is %d bytes; the limit is %d (1 MiB)", len(src), MaxFileSize)
		return nil
	}
	if !utf8.Valid(src) {
		d.add(CodeEncoding, invalidUTF8Pos(src), "save the file as UTF-8", "runbook is not valid UTF-8")
		return nil
	}
	if onlyComments(src) {
		d.add(CodeEmpty, Pos{1, 1}, "start from one of the files in examples/", "runbook is empty")
		return nil
	}
	if pos, ok := tabIndent(src); ok {
		d.add(CodeSyntax, pos, "YAML indentation must use spaces", "tab character in indentation")
		return nil
	}

	dec := yaml.NewDecoder(bytes.NewReader(src))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		d.add(CodeSyntax, yamlErrorPos(err), "", "%s", yamlErrorMessage(err))
		return nil
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		d.add(CodeUnsupportedYAML, Pos{extra.Line, extra.Column}, "put each runbook in its own file",
			"a runbook file holds one YAML document; found a second one")
		return nil
	} else if !errors.Is(err, io.EOF) {
		d.add(CodeSyntax, yamlErrorPos(err), "", "%s", yamlErrorMessage(err))
		return nil
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		d.add(CodeEmpty, Pos{1, 1}, "start from one of the files in examples/", "runbook is empty")
		return nil
	}
	root := doc.Content[0]
	if !checkStructure(d, root, 0) {
		return nil
	}
	return root
}

// checkStructure refuses anchors, aliases, merge keys and deep nesting
// before any other check walks the tree. Aliases are how "billion laughs"
// documents explode; a security runbook should spell out what it does.
func checkStructure(d *diags, n *yaml.Node, depth int) bool {
	if depth > maxDepth {
		d.add(CodeTooDeep, nodePos(n), "flatten the structure", "nesting deeper than %d levels", maxDepth)
		return false
	}
	if n.Kind == yaml.AliasNode || n.Anchor != "" {
		d.add(CodeUnsupportedYAML, nodePos(n), "write the value out in full",
			"YAML anchors and aliases are not allowed in runbooks")
		return false
	}
	ok := true
	for i, c := range n.Content {
		if n.Kind == yaml.MappingNode && i%2 == 0 && c.Value == "<<" && c.Tag == "!!merge" {
			d.add(CodeUnsupportedYAML, nodePos(c), "write the keys out in full", "YAML merge keys (<<) are not allowed in runbooks")
			ok = false
			continue
		}
		if !checkStructure(d, c, depth+1) {
			return false
		}
	}
	return ok
}

func nodePos(n *yaml.Node) Pos { return Pos{Line: n.Line, Column: n.Column} }

func invalidUTF8Pos(src []byte) Pos {
	line, col := 1, 1
	for len(src) > 0 {
		r, size := utf8.DecodeRune(src)
		if r == utf8.RuneError && size <= 1 {
			return Pos{line, col}
		}
		if r == '\n' {
			line, col = line+1, 1
		} else {
			col++
		}
		src = src[size:]
	}
	return Pos{line, col}
}

// tabIndent finds a tab in a line's leading whitespace. yaml.v3 reports
// these with a message that does not say "tab" in every case.
func tabIndent(src []byte) (Pos, bool) {
	line, col, leading := 1, 1, true
	for _, c := range src {
		switch {
		case c == '\n':
			line, col, leading = line+1, 1, true
			continue
		case leading && c == '\t':
			return Pos{line, col}, true
		case c != ' ':
			leading = false
		}
		col++
	}
	return Pos{}, false
}

// onlyComments reports whether src holds nothing but blank lines, comments
// and document markers, without copying it.
func onlyComments(src []byte) bool {
	for len(src) > 0 {
		line := src
		if i := bytes.IndexByte(src, '\n'); i >= 0 {
			line, src = src[:i], src[i+1:]
		} else {
			src = nil
		}
		t := bytes.TrimSpace(line)
		if len(t) > 0 && t[0] != '#' && string(t) != "---" {
			return false
		}
	}
	return true
}

var yamlLineRE = regexp.MustCompile(`^yaml: (?:line (\d+): )?`)

func yamlErrorPos(err error) Pos {
	var te *yaml.TypeError
	if errors.As(err, &te) {
		return Pos{1, 1}
	}
	m := yamlLineRE.FindStringSubmatch(err.Error())
	if len(m) == 2 && m[1] != "" {
		if n, convErr := strconv.Atoi(m[1]); convErr == nil {
			return Pos{n, 1}
		}
	}
	return Pos{1, 1}
}

func yamlErrorMessage(err error) string {
	return "invalid YAML: " + strings.TrimSpace(yamlLineRE.ReplaceAllString(err.Error(), ""))
}
