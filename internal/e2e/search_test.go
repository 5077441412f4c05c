package e2e

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/interceptor"
	"go.temporal.io/sdk/temporal"

	"github.com/cordon-ir/cordon/runctl"
	"github.com/cordon-ir/cordon/workflows"
)

// searchValue decodes one search attribute of a run as Temporal holds it
// ("" or nil when the run has none).
func searchValue(t *testing.T, sa *commonpb.SearchAttributes, name string, into any) bool {
	t.Helper()
	p, ok := sa.GetIndexedFields()[name]
	if !ok {
		return false
	}
	if err := converter.GetDefaultDataConverter().FromPayload(p, into); err != nil {
		t.Fatalf("decode search attribute %s: %v", name, err)
	}
	return true
}

func describe(t *testing.T, runID string) *workflowservice.DescribeWorkflowExecutionResponse {
	t.Helper()
	d, err := shared.client.DescribeWorkflowExecution(context.Background(), runID, "")
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func keyword(t *testing.T, d *workflowservice.DescribeWorkflowExecutionResponse, name string) string {
	t.Helper()
	var v string
	searchValue(t, d.GetWorkflowExecutionInfo().GetSearchAttributes(), name, &v)
	return v
}

// listed waits (visibility is written asynchronously) until query lists
// exactly the run runID.
func listed(t *testing.T, query, runID string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	var got []string
	for time.Now().Before(deadline) {
		resp, err := shared.client.ListWorkflow(context.Background(), &workflowservice.ListWorkflowExecutionsRequest{Query: query})
		if err != nil {
			t.Fatalf("list %q: %v", query, err)
		}
		got = got[:0]
		for _, e := range resp.GetExecutions() {
			got = append(got, e.GetExecution().GetWorkflowId())
		}
		if slices.Equal(got, []string{runID}) {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("list %q: %v, want only %s", query, got, runID)
}

// A run is findable and readable in the Web UI and `temporal workflow
// list`: its search attributes say which runbook, on what, for which
// incident, by whom, and how it ended; its summary says the same in one
// line, and its actions and gate waits say what they are.
func TestSearchAttributesAndSummariesOnTheServer(t *testing.T) {
	ctx := context.Background()
	host := oneHost(t, "findme")
	plan := compileExample(t, "ec2-compromise")
	runID := startSigned(t, shared.client, shared.cfg.Temporal.TaskQueue, plan, ec2Inputs(t, plan, host, "stop"),
		workflows.RunMeta{RunID: "e2e-search-" + host, Requester: "alice", Channel: "cli", Incident: "INC-4242"}, "")
	waitForGate(t, runID, "isolate")

	d := describe(t, runID)
	for name, want := range map[string]string{"CordonRunbook": "ec2-compromise", "CordonIncident": "INC-4242",
		"CordonRequester": "alice", "CordonOutcome": "running"} {
		if got := keyword(t, d, name); got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
	var targets []string
	searchValue(t, d.GetWorkflowExecutionInfo().GetSearchAttributes(), "CordonTargets", &targets)
	if !slices.Equal(targets, []string{host}) {
		t.Errorf("CordonTargets = %v, want [%s]", targets, host)
	}
	var dry bool
	if !searchValue(t, d.GetWorkflowExecutionInfo().GetSearchAttributes(), "CordonDryRun", &dry) || dry {
		t.Errorf("CordonDryRun missing or true")
	}
	var summary string
	if p := d.GetExecutionConfig().GetUserMetadata().GetSummary(); p != nil {
		_ = converter.GetDefaultDataConverter().FromPayload(p, &summary)
	}
	if want := "runbook ec2-compromise on " + host + " (INC-4242)"; summary != want {
		t.Errorf("summary %q, want %q", summary, want)
	}
	listed(t, "CordonTargets = '"+host+"'", runID)
	listed(t, "CordonIncident = 'INC-4242' AND CordonOutcome = 'running'", runID)

	// The history names the actions and the gate's wait.
	var activities, timers []string
	iter := shared.client.GetWorkflowHistory(ctx, runID, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for iter.HasNext() {
		e, err := iter.Next()
		if err != nil {
			t.Fatal(err)
		}
		var s string
		if p := e.GetUserMetadata().GetSummary(); p != nil {
			_ = converter.GetDefaultDataConverter().FromPayload(p, &s)
		}
		switch e.GetEventType() {
		case enumspb.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
			activities = append(activities, s)
		case enumspb.EVENT_TYPE_TIMER_STARTED:
			timers = append(timers, s)
		}
	}
	if want := "isolate " + host + ": aws.ec2.isolate_instance (preview)"; !slices.Contains(activities, want) {
		t.Errorf("activity summaries %q lack %q", activities, want)
	}
	if len(timers) == 0 || !strings.HasPrefix(timers[len(timers)-1], "gate isolate: waiting for 1 approval(s)") {
		t.Errorf("timer summaries %q, want the gate's wait last", timers)
	}

	// How it ended is set when it ends: an aborted run says aborted.
	abortRun(t, runID)
	ended(t, runID)
	// The outcome is written as the run ends, a moment after the abort
	// is accepted.
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		got := keyword(t, describe(t, runID), "CordonOutcome")
		if got == "aborted" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("CordonOutcome after the abort %q", got)
		}
	}
	listed(t, "CordonTargets = '"+host+"' AND CordonOutcome = 'aborted'", runID)
	replay(t, runID, "search-attributes-aborted")
}

// forgeRequester is a client that sets search attributes of its own at
// the start: another requester, and an outcome.
type forgeRequester struct {
	interceptor.ClientInterceptorBase
}

func (*forgeRequester) InterceptClient(next interceptor.ClientOutboundInterceptor) interceptor.ClientOutboundInterceptor {
	o := &forgeOutbound{}
	o.Next = next
	return o
}

type forgeOutbound struct {
	interceptor.ClientOutboundInterceptorBase
}

func (o *forgeOutbound) ExecuteWorkflow(ctx context.Context, in *interceptor.ClientExecuteWorkflowInput) (client.WorkflowRun, error) {
	in.Options.TypedSearchAttributes = temporal.NewSearchAttributes(
		workflows.SearchRequester.ValueSet("mallory"), workflows.SearchOutcome.ValueSet("succeeded"),
		workflows.SearchRunbook.ValueSet("harmless"))
	return o.Next.ExecuteWorkflow(ctx, in)
}

// The search attributes a client sets at the start are not the record: the
// workflow writes what it verified (the signed requester) over them.
func TestClientSearchAttributesAreOverwritten(t *testing.T) {
	ctx := context.Background()
	forged, err := client.NewClientFromExisting(shared.client, client.Options{Namespace: shared.box.Temporal().Namespace,
		Interceptors: []interceptor.ClientInterceptor{&forgeRequester{}}})
	if err != nil {
		t.Fatal(err)
	}
	defer forged.Close()
	host := oneHost(t, "forged")
	plan := compileExample(t, "ec2-compromise")
	inputs, err := plan.ResolveInputs(map[string]string{"instance_id": host})
	if err != nil {
		t.Fatal(err)
	}
	runID := startSigned(t, forged, shared.cfg.Temporal.TaskQueue, plan, inputs,
		workflows.RunMeta{RunID: "e2e-forged-" + host, Requester: "alice", Channel: "cli", DryRun: true}, "")
	if res, err := runctl.Wait(ctx, shared.client, runID); err != nil || res.Status != workflows.RunSucceeded {
		t.Fatalf("run %s: %+v %v", runID, res, err)
	}
	d := describe(t, runID)
	for name, want := range map[string]string{"CordonRequester": "alice", "CordonRunbook": "ec2-compromise", "CordonOutcome": "succeeded"} {
		if got := keyword(t, d, name); got != want {
			t.Errorf("%s = %q, want %q (the client said otherwise)", name, got, want)
		}
	}
	var dry bool
	if !searchValue(t, d.GetWorkflowExecutionInfo().GetSearchAttributes(), "CordonDryRun", &dry) || !dry {
		t.Errorf("CordonDryRun missing or false for a rehearsal")
	}
	listed(t, "CordonTargets = '"+host+"' AND CordonRequester = 'alice'", runID)
}
