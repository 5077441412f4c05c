package runbooks

import (
	"fmt"
	"sort"
	"strings"
)

// Code is a stable identifier of a class of problem. Tests, editors and
// scripts match on codes, never on the prose, so codes never change
// meaning once published.
type Code string

// Diagnostic codes.
const (
	CodeFileTooLarge     Code = "file-too-large"
	CodeEncoding         Code = "bad-encoding"
	CodeEmpty            Code = "empty-runbook"
	CodeSyntax           Code = "yaml-syntax"
	CodeUnsupportedYAML  Code = "unsupported-yaml"
	CodeTooDeep          Code = "too-deep"
	CodeUnknownField     Code = "unknown-field"
	CodeDuplicateKey     Code = "duplicate-key"
	CodeMissingField     Code = "missing-field"
	CodeWrongShape       Code = "wrong-shape"
	CodeTypeMismatch     Code = "type-mismatch"
	CodeBadValue         Code = "bad-value"
	CodeBadPattern       Code = "bad-pattern"
	CodeUnknownAction    Code = "unknown-action"
	CodeUnknownParam     Code = "unknown-param"
	CodeMissingParam     Code = "missing-param"
	CodeDuplicateStep    Code = "duplicate-step"
	CodeBadReference     Code = "bad-reference"
	CodeBadExpression    Code = "bad-expression"
	CodeForbiddenFunc    Code = "forbidden-function"
	CodeMissingApproval  Code = "missing-approval"
	CodeMissingApprovers Code = "missing-approvers"
	CodeMissingJustify   Code = "missing-justification"
	CodeUnknownRunbook   Code = "unknown-runbook"
	CodeUsesCycle        Code = "uses-cycle"
	CodeNotAllowed       Code = "not-allowed"
	// Warnings: the runbook compiles, but something in it is likely a
	// mistake.
	CodeUnusedInput Code = "unused-input"
	// CodeMemoryNotCaptured: a step stops or terminates an instance with
	// no memory capture before it.
	CodeMemoryNotCaptured Code = "memory-not-captured"
)

// Codes lists every diagnostic code, for documentation and its test.
func Codes() []Code {
	return []Code{
		CodeFileTooLarge, CodeEncoding, CodeEmpty, CodeSyntax, CodeUnsupportedYAML, CodeTooDeep,
		CodeUnknownField, CodeDuplicateKey, CodeMissingField, CodeWrongShape, CodeTypeMismatch,
		CodeBadValue, CodeBadPattern, CodeUnknownAction, CodeUnknownParam, CodeMissingParam,
		CodeDuplicateStep, CodeBadReference, CodeBadExpression, CodeForbiddenFunc, CodeMissingApproval,
		CodeMissingApprovers, CodeMissingJustify, CodeUnknownRunbook, CodeUsesCycle, CodeNotAllowed, CodeUnusedInput,
		CodeMemoryNotCaptured,
	}
}

// Severity says whether a diagnostic blocks compilation.
type Severity string

// Severities.
const (
	Error   Severity = "error"
	Warning Severity = "warning"
)

// Pos is a 1-based line and column in a runbook file.
type Pos struct {
	Line   int `json:"line"`
	Column int `json:"column"`
}

func (p Pos) String() string { return fmt.Sprintf("%d:%d", p.Line, p.Column) }

// Diagnostic is one problem found in a runbook: where, what, and what to do.
type Diagnostic struct {
	Severity Severity `json:"severity"`
	Code     Code     `json:"code"`
	File     string   `json:"file,omitempty"`
	Pos      Pos      `json:"pos"`
	Summary  string   `json:"summary"`
	// Detail says how to fix it, when that is not obvious from the summary.
	Detail string `json:"detail,omitempty"`
}

// Error renders the diagnostic the way compilers do: path:line:col: message.
func (d Diagnostic) Error() string {
	msg := d.Summary
	if d.Detail != "" {
		msg += " (" + d.Detail + ")"
	}
	file := d.File
	if file == "" {
		file = "<runbook>"
	}
	return fmt.Sprintf("%s:%d:%d: %s [%s]", file, d.Pos.Line, d.Pos.Column, msg, d.Code)
}

// Diagnostics is a list of problems; a non-empty list with errors is itself
// an error, so callers can return it through ordinary error paths.
type Diagnostics []Diagnostic

func (ds Diagnostics) Error() string {
	lines := make([]string, len(ds))
	for i, d := range ds {
		lines[i] = d.Error()
	}
	return strings.Join(lines, "\n")
}

// HasErrors reports whether any diagnostic is an error (not a warning).
func (ds Diagnostics) HasErrors() bool {
	for _, d := range ds {
		if d.Severity == Error {
			return true
		}
	}
	return false
}

// Err returns ds as an error when it holds errors, and nil otherwise.
func (ds Diagnostics) Err() error {
	if ds.HasErrors() {
		return ds
	}
	return nil
}

// sorted orders diagnostics by file and position, so output is stable
// whatever order the checks ran in, and drops exact duplicates.
func (ds Diagnostics) sorted() Diagnostics {
	out := append(Diagnostics(nil), ds...)
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.File != b.File {
			return a.File < b.File
		}
		if a.Pos.Line != b.Pos.Line {
			return a.Pos.Line < b.Pos.Line
		}
		return a.Pos.Column < b.Pos.Column
	})
	uniq := out[:0]
	for i, d := range out {
		if i > 0 && d == out[i-1] {
			continue
		}
		uniq = append(uniq, d)
	}
	return uniq
}

// diags collects diagnostics while one file is checked.
type diags struct {
	file string
	list Diagnostics
}

func (d *diags) add(code Code, pos Pos, detail string, format string, args ...any) {
	d.list = append(d.list, Diagnostic{
		Severity: Error, Code: code, File: d.file, Pos: pos,
		Summary: fmt.Sprintf(format, args...), Detail: detail,
	})
}

func (d *diags) warn(code Code, pos Pos, detail string, format string, args ...any) {
	d.list = append(d.list, Diagnostic{
		Severity: Warning, Code: code, File: d.file, Pos: pos,
		Summary: fmt.Sprintf(format, args...), Detail: detail,
	})
}

// suggest returns " (did you mean X?)"-style help for a misspelt name.
func suggest(name string, candidates []string) string {
	best, bestDist := "", 3
	for _, c := range candidates {
		if d := editDistance(strings.ToLower(name), strings.ToLower(c)); d < bestDist {
			best, bestDist = c, d
		}
	}
	if best != "" {
		return fmt.Sprintf("did you mean %q?", best)
	}
	if len(candidates) > 0 && len(candidates) <= 12 {
		return "expected one of: " + strings.Join(candidates, ", ")
	}
	return ""
}

func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 99 // not worth comparing; never a typo
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
