package main

import (
	"context"
	"strings"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	workflowpb "go.temporal.io/api/workflow/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"

	"github.com/cordon-ir/cordon/workflows"
)

func listRequest(limit int) *workflowservice.ListWorkflowExecutionsRequest {
	return &workflowservice.ListWorkflowExecutionsRequest{
		PageSize: int32(limit),
		Query:    "WorkflowType = '" + workflows.WorkflowName + "'",
	}
}

// listedRun is one line of cordon list (one object of --json).
type listedRun struct {
	RunID string `json:"run_id"`
	// Outcome is Cordon's word for where the run stands: running,
	// succeeded, failed, aborted, partial (and terminated, cancelled or
	// timed_out when Temporal ended the run from outside).
	Outcome   string     `json:"outcome"`
	Runbook   string     `json:"runbook,omitempty"`
	Targets   []string   `json:"targets,omitempty"`
	Incident  string     `json:"incident,omitempty"`
	Requester string     `json:"requester,omitempty"`
	DryRun    bool       `json:"dry_run,omitempty"`
	Parent    string     `json:"parent,omitempty"`
	StartedAt time.Time  `json:"started_at"`
	EndedAt   *time.Time `json:"ended_at,omitempty"`
	// Temporal is Temporal's own status of the execution.
	Temporal string `json:"temporal_status"`
}

// listedRunOf reads a run from its visibility record: Cordon's search
// attributes when the run wrote them, else what Temporal's status and the
// run's result say.
func listedRunOf(ctx context.Context, cl client.Client, e *workflowpb.WorkflowExecutionInfo) listedRun {
	r := listedRun{
		RunID:     e.GetExecution().GetWorkflowId(),
		StartedAt: e.GetStartTime().AsTime(),
		Temporal:  temporalStatus(e.GetStatus()),
		Parent:    e.GetParentExecution().GetWorkflowId(),
	}
	if e.GetCloseTime() != nil {
		t := e.GetCloseTime().AsTime()
		r.EndedAt = &t
	}
	sa := e.GetSearchAttributes()
	searchAttr(sa, workflows.SearchRunbook.GetName(), &r.Runbook)
	searchAttr(sa, workflows.SearchTargets.GetName(), &r.Targets)
	searchAttr(sa, workflows.SearchIncident.GetName(), &r.Incident)
	searchAttr(sa, workflows.SearchRequester.GetName(), &r.Requester)
	searchAttr(sa, workflows.SearchDryRun.GetName(), &r.DryRun)
	searchAttr(sa, workflows.SearchOutcome.GetName(), &r.Outcome)
	closed := e.GetStatus() != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING
	if r.Outcome == "" || (closed && r.Outcome == string(workflows.RunRunning)) {
		// No outcome written (a run from before search attributes, or a
		// namespace without them), or the run was ended from outside.
		r.Outcome = outcomeOf(ctx, cl, e)
	}
	return r
}

// searchAttr decodes one search attribute into v; absent, v is left as is.
func searchAttr(sa *commonpb.SearchAttributes, name string, v any) {
	if p, ok := sa.GetIndexedFields()[name]; ok {
		_ = converter.GetDefaultDataConverter().FromPayload(p, v)
	}
}

func temporalStatus(s enumspb.WorkflowExecutionStatus) string {
	return strings.ToLower(strings.TrimPrefix(s.String(), "WORKFLOW_EXECUTION_STATUS_"))
}

// outcomeOf is a run's outcome from Temporal: running while it runs; once
// closed, the status the run returned (a run that ended aborted or failed
// fails its execution with that status as the error type; a partial run
// completes with it in its result).
func outcomeOf(ctx context.Context, cl client.Client, e *workflowpb.WorkflowExecutionInfo) string {
	switch e.GetStatus() {
	case enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING:
		return string(workflows.RunRunning)
	case enumspb.WORKFLOW_EXECUTION_STATUS_TERMINATED:
		return "terminated"
	case enumspb.WORKFLOW_EXECUTION_STATUS_CANCELED:
		return "cancelled"
	case enumspb.WORKFLOW_EXECUTION_STATUS_TIMED_OUT:
		return "timed_out"
	case enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED:
		fallback := string(workflows.RunSucceeded)
		ev := closeEvent(ctx, cl, e)
		res := ev.GetWorkflowExecutionCompletedEventAttributes().GetResult()
		if res == nil || len(res.GetPayloads()) == 0 {
			return fallback
		}
		var rr workflows.RunResult
		if converter.GetDefaultDataConverter().FromPayload(res.GetPayloads()[0], &rr) != nil || rr.Status == "" {
			return fallback
		}
		return string(rr.Status)
	case enumspb.WORKFLOW_EXECUTION_STATUS_FAILED:
		ev := closeEvent(ctx, cl, e)
		switch t := ev.GetWorkflowExecutionFailedEventAttributes().GetFailure().GetApplicationFailureInfo().GetType(); workflows.RunStatus(t) {
		case workflows.RunAborted, workflows.RunFailed, workflows.RunPartial:
			return t
		}
		return string(workflows.RunFailed)
	}
	return temporalStatus(e.GetStatus())
}

// closeEvent is the event that closed the run (nil when it cannot be read;
// the getters of a nil event return nil).
func closeEvent(ctx context.Context, cl client.Client, e *workflowpb.WorkflowExecutionInfo) *historypb.HistoryEvent {
	iter := cl.GetWorkflowHistory(ctx, e.GetExecution().GetWorkflowId(), e.GetExecution().GetRunId(), false,
		enumspb.HISTORY_EVENT_FILTER_TYPE_CLOSE_EVENT)
	if !iter.HasNext() {
		return nil
	}
	ev, err := iter.Next()
	if err != nil {
		return nil
	}
	return ev
}
