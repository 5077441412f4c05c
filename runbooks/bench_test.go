package runbooks_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/cordon-ir/cordon/actions"
	"github.com/cordon-ir/cordon/runbooks"
)

// BenchmarkCompileExamples compiles each example; the largest
// (ec2-compromise, 12 steps and ~25 expressions) is the figure to watch.
func BenchmarkCompileExamples(b *testing.B) {
	files, _ := filepath.Glob("../examples/*.yaml")
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			b.Fatal(err)
		}
		compiler := runbooks.NewCompiler(actions.Catalog(), runbooks.NewDirResolver(files...))
		b.Run(filepath.Base(f), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, diags := compiler.Compile(f, src); diags.HasErrors() {
					b.Fatal(diags)
				}
			}
		})
	}
}
