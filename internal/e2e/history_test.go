package e2e

import (
	"os"
	"path/filepath"

	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/cordon-ir/cordon/workflows"
)

type historyEvent = historypb.HistoryEvent

func newHistory(events []*historyEvent) *historypb.History {
	return &historypb.History{Events: events}
}

func registerForReplay(r worker.WorkflowReplayer) {
	r.RegisterWorkflowWithOptions(workflows.Runbook, workflow.RegisterOptions{Name: workflows.WorkflowName})
}

func saveHistory(path string, h *historypb.History) error {
	b, err := protojson.MarshalOptions{Multiline: true, Indent: "  "}.Marshal(h)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}
