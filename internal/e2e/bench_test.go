package e2e

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/cordon-ir/cordon/actions"
	"github.com/cordon-ir/cordon/actions/wire"
	"github.com/cordon-ir/cordon/runctl"
	"github.com/cordon-ir/cordon/workflows"
)

const overheadSteps = 20

// BenchmarkEngineOverheadPerStep measures what the engine adds to each
// step on the embedded server: a runbook of steps whose action returns at
// once (slack.notify to a discarding notifier), against the same action
// calls made directly, with no engine, in the same run.
//
//	go test ./internal/e2e -run '^$' -bench EngineOverhead -benchtime 20x
func BenchmarkEngineOverheadPerStep(b *testing.B) {
	var src strings.Builder
	src.WriteString("apiVersion: cordon.dev/v1\nkind: Runbook\nmetadata:\n  name: overhead\nsteps:\n")
	for i := 0; i < overheadSteps; i++ {
		fmt.Fprintf(&src, "  - id: s%d\n    action: slack.notify\n    with: {message: \"step %d of ${{ run.id }}\"}\n", i, i)
	}
	plan := compileAdHoc(b, "overhead.yaml", src.String())
	ctx := context.Background()

	b.Run("direct", func(b *testing.B) {
		rt := actions.NewRuntime(actions.Options{Logger: slog.New(slog.DiscardHandler)})
		for b.Loop() {
			for i := 0; i < overheadSteps; i++ {
				if _, err := rt.Run(ctx, wire.Call{Action: "slack.notify", Params: map[string]any{"message": "x"}, Run: wire.RunRef{RunID: "r", StepID: "s"}}); err != nil {
					b.Fatal(err)
				}
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*overheadSteps), "ns/step")
	})
	b.Run("workflow", func(b *testing.B) {
		// Run ids must be new on every invocation (-count, b.N rounds).
		start, n := time.Now(), 0
		for b.Loop() {
			n++
			// The overhead runbook is not in the worker's source: carol's
			// signed break-glass approves its plan, as a lead would.
			bg, err := runctl.SignBreakGlass(fmt.Sprintf("overhead-%d-%d", start.UnixNano(), n), "carol", "bench", shared.keys["carol"])
			if err != nil {
				b.Fatal(err)
			}
			id, err := runctl.Start(ctx, shared.client, shared.cfg.Temporal.TaskQueue, runctl.StartOptions{Plan: plan, Inputs: map[string]any{},
				Meta: workflows.RunMeta{RunID: bg.RunID, Requester: "alice"}, Signer: shared.keys["alice"], BreakGlass: []workflows.Request{bg}})
			if err != nil {
				b.Fatal(err)
			}
			if res, err := runctl.Wait(ctx, shared.client, id); err != nil || res.Status != workflows.RunSucceeded {
				b.Fatalf("%+v %v", res, err)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*overheadSteps), "ns/step")
	})
}
