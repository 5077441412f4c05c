package runbooks_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/cordon-ir/cordon/actions"
	"github.com/cordon-ir/cordon/runbooks"
)

// exampleRunbooks reads the example runbooks: their paths, and their
// texts in the same order.
func exampleRunbooks(tb testing.TB) (paths []string, srcs [][]byte) {
	tb.Helper()
	paths, _ = filepath.Glob("../examples/*.yaml")
	for _, p := range paths {
		src, err := os.ReadFile(p)
		if err != nil {
			tb.Fatal(err)
		}
		srcs = append(srcs, src)
	}
	return paths, srcs
}

// FuzzCompile feeds the compiler arbitrary bytes, seeded with the examples
// and known-bad shapes. The compiler must never panic, must return either
// a plan or errors (never both, never neither), and must finish quickly.
//
//	go test ./runbooks -run '^$' -fuzz FuzzCompile -fuzztime 10m
func FuzzCompile(f *testing.F) {
	files, srcs := exampleRunbooks(f)
	for _, src := range srcs {
		f.Add(src)
	}
	for _, seed := range []string{
		"", "\t", "- a", "a: &x b\nc: *x", "apiVersion: 1", "{", header + "steps: [{id: a, action: slack.notify, with: {message: '${{'}}]",
		header + "steps: [{id: a, action: slack.notify, when: 'run.id ==', with: {message: x}}]",
		header + "steps: [{id: a, action: slack.notify, foreach: [1, 2], with: {message: '${{ string(item) }}'}}]",
		header + "inputs: {x: {type: list, pattern: '(', default: [a]}}\nsteps: []",
		header + "steps: [{id: a, uses: a}]",
	} {
		f.Add([]byte(seed))
	}
	examples := runbooks.NewDirResolver(files...)
	compiler := runbooks.NewCompiler(actions.Catalog(), examples)
	f.Fuzz(func(t *testing.T, src []byte) {
		start := time.Now()
		plan, diags := compiler.Compile("fuzz.yaml", src)
		if (plan == nil) == !diags.HasErrors() {
			t.Fatalf("plan=%v with diagnostics %v", plan != nil, diags)
		}
		for _, d := range diags {
			if d.Pos.Line < 1 || d.Pos.Column < 1 || d.Summary == "" || d.Code == "" {
				t.Fatalf("bad diagnostic %#v", d)
			}
		}
		if plan != nil {
			_ = plan.Hash()
		}
		if elapsed := time.Since(start); elapsed > 5*time.Second {
			t.Fatalf("compile took %s", elapsed)
		}
	})
}
