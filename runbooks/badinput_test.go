package runbooks_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/cordon-ir/cordon/runbooks"
)

// Hostile or broken files each get one clear, positioned error: never a
// panic, a hang or a flood.
func TestBadInput(t *testing.T) {
	var deep strings.Builder
	deep.WriteString(header + "inputs:\n")
	for i := 0; i < 200; i++ {
		deep.WriteString(strings.Repeat("  ", i+1) + "k:\n")
	}
	bomb := header + `inputs:
  a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
  b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
  c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
  d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
  e: [*d,*d,*d,*d,*d,*d,*d,*d,*d]
steps: []
`
	cases := []struct {
		name string
		src  []byte
		code runbooks.Code
		line int
		col  int
	}{
		{"empty file", []byte(""), runbooks.CodeEmpty, 1, 1},
		{"only comments", []byte("# nothing here\n\n"), runbooks.CodeEmpty, 1, 1},
		{"over 1 MiB", append([]byte(header), bytes.Repeat([]byte("#"), runbooks.MaxFileSize)...), runbooks.CodeFileTooLarge, 1, 1},
		{"not UTF-8", []byte(header + "steps:\n  - id: \xff\xfe\n"), runbooks.CodeEncoding, 6, 9},
		{"tab indentation", []byte(header + "steps:\n\t- id: a\n"), runbooks.CodeSyntax, 6, 1},
		{"alias bomb", []byte(bomb), runbooks.CodeUnsupportedYAML, 6, 6},
		{"deep nesting", []byte(deep.String()), runbooks.CodeTooDeep, 37, 65},
		{"two documents", []byte(header + "steps: []\n---\n" + header), runbooks.CodeUnsupportedYAML, 6, 1},
		{"broken YAML", []byte(header + "steps: [\n"), runbooks.CodeSyntax, 5, 1},
		{"a list at the top", []byte("- a\n- b\n"), runbooks.CodeWrongShape, 1, 1},
		{"a scalar at the top", []byte("hello\n"), runbooks.CodeWrongShape, 1, 1},
		{"merge key", []byte(header + "target:\n  <<: {region: x}\nsteps: []\n"), runbooks.CodeUnsupportedYAML, 6, 3},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			plan, diags := compile(t, string(tc.src))
			if plan != nil {
				t.Fatal("compiled")
			}
			if len(diags) == 0 || diags[0].Code != tc.code || diags[0].Pos.Line != tc.line || diags[0].Pos.Column != tc.col {
				t.Fatalf("want %s at %d:%d, got:\n%s", tc.code, tc.line, tc.col, diags.Error())
			}
			if len(diags) > 3 {
				t.Errorf("one problem should not flood: %d diagnostics\n%s", len(diags), diags.Error())
			}
		})
	}
}
