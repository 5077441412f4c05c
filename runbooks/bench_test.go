package runbooks_test

import (
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/cordon-ir/cordon/actions"
	"github.com/cordon-ir/cordon/runbooks"
)

// BenchmarkCompileExamples compiles each example; the largest
// (ec2-compromise, 12 steps and ~25 expressions) is the figure to watch.
func BenchmarkCompileExamples(b *testing.B) {
	files, srcs := exampleRunbooks(b)
	for i, f := range files {
		src := srcs[i]
		compiler := runbooks.NewCompiler(actions.Catalog(), runbooks.NewDirResolver(files...))
		b.Run(filepath.Base(f), func(b *testing.B) {
			b.ReportAllocs()
			before := cpuTime()
			for b.Loop() {
				if _, diags := compiler.Compile(f, src); diags.HasErrors() {
					b.Fatal(diags)
				}
			}
			// CPU time per compile, which a busy machine inflates far less
			// than wall time (ns/op).
			b.ReportMetric(float64((cpuTime()-before).Nanoseconds())/float64(b.N), "cpu-ns/op")
		})
	}
}

// cpuTime is the process's user+system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
