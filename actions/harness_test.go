package actions_test

import (
	"context"
	"errors"
	"log/slog"
	"sort"
	"testing"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/cordon-ir/cordon/actions"
	"github.com/cordon-ir/cordon/internal/awsemu"
)

// harness runs actions as Temporal activities (the SDK's test activity
// environment: real heartbeats, real error conversion) through the real
// AWS SDK against the wire-level emulator on 127.0.0.1.
type harness struct {
	t   *testing.T
	emu *awsemu.Emulator
	rt  *actions.Runtime
	// account is the runbook account name calls target (default none).
	account string
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	emu := awsemu.NewTestServer(t, awsemu.Options{Logger: slog.New(slog.DiscardHandler)})
	rt := actions.NewRuntime(actions.Options{
		Clients: actions.NewAWSClientSource(actions.AWSOptions{
			Base:     emu.AWSConfig(),
			Endpoint: emu.URL(),
		}),
		Logger:       slog.New(slog.DiscardHandler),
		PollInterval: 10 * time.Millisecond,
	})
	return &harness{t: t, emu: emu, rt: rt}
}

func (h *harness) fleet(spec awsemu.FleetSpec) awsemu.FleetInfo {
	h.t.Helper()
	info, err := h.emu.SeedFleet(spec)
	if err != nil {
		h.t.Fatal(err)
	}
	return info
}

// run executes one action in the given mode as an activity.
func (h *harness) run(mode actions.Mode, action string, params map[string]any) (actions.Result, error) {
	h.t.Helper()
	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestActivityEnvironment()
	acts := h.rt.Activities()
	fn, ok := acts[action]
	if !ok {
		h.t.Fatalf("no activity for %s", action)
	}
	env.RegisterActivityWithOptions(fn, activityOptions(action))
	env.SetTestTimeout(30 * time.Second)
	call := actions.Call{
		Action: action, Params: params, Mode: mode,
		Target: actions.Target{Account: h.account, Region: h.emu.Region()},
		Run:    actions.RunRef{RunID: "run-1", Incident: "INC-42", StepID: "step", StartedAt: time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)},
	}
	val, err := env.ExecuteActivity(action, call)
	if err != nil {
		return actions.Result{}, err
	}
	var res actions.Result
	if err := val.Get(&res); err != nil {
		h.t.Fatal(err)
	}
	return res, nil
}

func (h *harness) execute(action string, params map[string]any) actions.Result {
	h.t.Helper()
	res, err := h.run(actions.Execute, action, params)
	if err != nil {
		h.t.Fatalf("%s: %v", action, err)
	}
	return res
}

// mutations lists the successful state changes the emulator saw.
func (h *harness) mutations() []string {
	var out []string
	for _, c := range h.emu.Mutations() {
		out = append(out, c.IAMAction)
	}
	return out
}

// usedPermissions lists every IAM action the emulator saw called.
func (h *harness) usedPermissions() []string {
	set := map[string]bool{}
	for _, c := range h.emu.Calls() {
		set[c.IAMAction] = true
	}
	var out []string
	for k := range set {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// assertDeclared checks the least-privilege promise: the action called
// nothing outside the permissions its spec declares.
func (h *harness) assertDeclared(action string) {
	h.t.Helper()
	spec, _ := actions.Catalog().Lookup(action)
	declared := map[string]bool{}
	for _, p := range spec.Permissions {
		declared[p] = true
	}
	for _, used := range h.usedPermissions() {
		if !declared[used] {
			h.t.Errorf("%s called %s, which its spec does not declare", action, used)
		}
	}
}

func errorType(err error) string {
	var ae *temporal.ApplicationError
	if errors.As(err, &ae) {
		return ae.Type()
	}
	return ""
}

func isNonRetryable(err error) bool {
	var ae *temporal.ApplicationError
	return errors.As(err, &ae) && ae.NonRetryable()
}

func activityOptions(name string) activity.RegisterOptions {
	return activity.RegisterOptions{Name: name}
}

var _ = context.Background
