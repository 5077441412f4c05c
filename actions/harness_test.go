package actions_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/cordon-ir/cordon/actions"
	"github.com/cordon-ir/cordon/actions/spec"
	"github.com/cordon-ir/cordon/evidence"
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
	// ref, when set, is the run the calls belong to (default run-1 of
	// incident INC-42, step "step").
	ref *actions.RunRef
	// evidence is the evidence store the runtime writes to (default none).
	evidence evidence.Config
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	emu := awsemu.NewTestServer(t, awsemu.Options{Logger: slog.New(slog.DiscardHandler)})
	h := &harness{t: t, emu: emu}
	h.rt = h.runtime(nil)
	return h
}

// runtime is the harness's runtime, reaching the accounts named (the
// worker configuration's aws.accounts) through their roles.
func (h *harness) runtime(accounts map[string]actions.Account) *actions.Runtime {
	return h.runtimeWith(actions.Options{Clients: h.clients(actions.AWSOptions{Accounts: accounts})})
}

// clients is a client source on the emulator with a test's own options
// (accounts, rate limit, metrics; a proxy's endpoint in front of it).
func (h *harness) clients(opts actions.AWSOptions) *actions.AWSClientSource {
	opts.Base = h.emu.AWSConfig()
	if opts.Endpoint == "" {
		opts.Endpoint = h.emu.URL()
	}
	return actions.NewAWSClientSource(opts)
}

// runtimeWith is a runtime with a test's own options (its clients, clock,
// the worker's quarantine groups or forensic endpoints) and the harness's
// for the rest: the emulator's clients when opts names none, a discarded
// log, a quick poll, the harness's evidence store.
func (h *harness) runtimeWith(opts actions.Options) *actions.Runtime {
	if opts.Clients == nil {
		opts.Clients = h.clients(actions.AWSOptions{})
	}
	opts.Logger = slog.New(slog.DiscardHandler)
	opts.PollInterval = 10 * time.Millisecond
	opts.Evidence = h.evidence
	return actions.NewRuntime(opts)
}

// forensicAccountID is the forensic account of the evidence tests: where
// evidence goes, out of reach of the compromised account's credentials.
const forensicAccountID = "210987654321"

// withForensicAccount adds the forensic account to the emulator with the
// role the worker assumes there, and names it "forensic" in the runtime's
// accounts, as the worker configuration would.
func (h *harness) withForensicAccount() {
	h.t.Helper()
	role, err := h.emu.AddRole(awsemu.RoleSpec{Name: "cordon-forensic", Account: forensicAccountID})
	if err != nil {
		h.t.Fatal(err)
	}
	h.rt = h.runtime(map[string]actions.Account{"forensic": {RoleARN: role.ARN}})
}

func (h *harness) fleet(spec awsemu.FleetSpec) awsemu.FleetInfo {
	h.t.Helper()
	info, err := h.emu.SeedFleet(spec)
	if err != nil {
		h.t.Fatal(err)
	}
	return info
}

// seedInstance seeds the fleet and returns it with the id of its first
// instance, the one the test acts on.
func (h *harness) seedInstance(spec awsemu.FleetSpec) (awsemu.FleetInfo, string) {
	h.t.Helper()
	fleet := h.fleet(spec)
	return fleet, fleet.InstanceIDs[0]
}

// held returns what the emulator holds under name (lookup is the
// emulator's getter for that kind), failing the test when it is gone.
func held[T any](t *testing.T, kind, name string, lookup func(string) (T, bool)) T {
	t.Helper()
	v, ok := lookup(name)
	if !ok {
		t.Fatalf("%s %s is gone", kind, name)
	}
	return v
}

// run executes one action in the given mode as an activity.
func (h *harness) run(mode actions.Mode, action string, params map[string]any) (actions.Result, error) {
	h.t.Helper()
	call := actions.Call{
		Action: action, Params: params, Mode: mode,
		Target: actions.Target{Account: h.account, Region: h.emu.Region()},
		Run:    actions.RunRef{RunID: "run-1", Incident: "INC-42", StepID: "step", StartedAt: time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)},
	}
	if h.ref != nil {
		call.Run = *h.ref
	}
	return h.runCall(call)
}

// runCall executes one call as an activity: h.run's, or one with a target
// or run other than the harness's.
func (h *harness) runCall(call actions.Call) (actions.Result, error) {
	h.t.Helper()
	fn, ok := h.rt.Activities()[call.Action]
	if !ok {
		h.t.Fatalf("no activity for %s", call.Action)
	}
	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestActivityEnvironment()
	env.RegisterActivityWithOptions(fn, activityOptions(call.Action))
	env.SetTestTimeout(30 * time.Second)
	val, err := env.ExecuteActivity(call.Action, call)
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

// preview runs the action in preview, which must succeed and change
// nothing.
func (h *harness) preview(action string, params map[string]any) actions.Result {
	h.t.Helper()
	before := len(h.mutations())
	res, err := h.run(actions.Preview, action, params)
	if err != nil {
		h.t.Fatalf("%s preview: %v", action, err)
	}
	if m := h.mutations(); len(m) != before {
		h.t.Fatalf("preview mutated: %v", m[before:])
	}
	return res
}

// previewAndExecute previews the action, then executes it: the preview
// must change nothing and announce the very changes the execution makes.
func (h *harness) previewAndExecute(action string, params map[string]any) actions.Result {
	h.t.Helper()
	preview := h.preview(action, params)
	res := h.execute(action, params)
	if !reflect.DeepEqual(preview.Changes, res.Changes) {
		h.t.Errorf("preview %+v\nexecute %+v", preview.Changes, res.Changes)
	}
	return res
}

// retry executes the action again as the same step, as a retried
// attempt would: it must find everything done and send no mutation.
func (h *harness) retry(action string, params map[string]any) actions.Result {
	h.t.Helper()
	before := len(h.emu.Mutations())
	res := h.execute(action, params)
	if n := len(h.emu.Mutations()) - before; n != 0 {
		h.t.Errorf("%s again: %d mutations, want none", action, n)
	}
	return res
}

// retryReports retries the step (retry: it must change nothing) and
// checks the output the retry reports.
func (h *harness) retryReports(action string, params map[string]any, output string, want any) {
	h.t.Helper()
	if got := h.retry(action, params).Outputs[output]; got != want {
		h.t.Errorf("%s again: %s = %v, want %v", action, output, got, want)
	}
}

// mutations lists the successful state changes the emulator saw.
func (h *harness) mutations() []string {
	var out []string
	for _, c := range h.emu.Mutations() {
		out = append(out, c.IAMAction)
	}
	return out
}

// hasNote reports whether one of the notes contains part.
func hasNote(notes []string, part string) bool {
	return slices.ContainsFunc(notes, func(n string) bool { return strings.Contains(n, part) })
}

// assertNoMutation checks that the emulator saw no state change (since it
// started, or since its calls were last reset).
func (h *harness) assertNoMutation() {
	h.t.Helper()
	if m := h.mutations(); len(m) != 0 {
		h.t.Errorf("mutated: %v", m)
	}
}

// countCalls counts the calls of an IAM action the emulator saw, dry runs
// or not.
func countCalls(h *harness, iamAction string, dryRun bool) int {
	n := 0
	for _, c := range h.emu.Calls() {
		if c.IAMAction == iamAction && c.DryRun == dryRun {
			n++
		}
	}
	return n
}

// failedWith counts the calls the emulator answered with the error code.
func failedWith(h *harness, code string) int {
	n := 0
	for _, c := range h.emu.Calls() {
		if c.ErrorCode == code {
			n++
		}
	}
	return n
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
// nothing outside the permissions its spec declares, in the account the
// step targets (Permissions) and in the forensic account
// (ForensicPermissions). Assuming the forensic account's role is the
// client source's call, made with the worker's own credentials.
func (h *harness) assertDeclared(action string) {
	h.t.Helper()
	spec, _ := actions.Catalog().Lookup(action)
	reported := map[string]bool{}
	for _, c := range h.emu.Calls() {
		declared, role := spec.Permissions, "responder"
		if c.Account == forensicAccountID {
			declared, role = spec.ForensicPermissions, "forensic"
		}
		if c.IAMAction != "sts:AssumeRole" && !slices.Contains(declared, c.IAMAction) && !reported[role+c.IAMAction] {
			reported[role+c.IAMAction] = true
			h.t.Errorf("%s called %s as the %s role, which its spec does not declare", action, c.IAMAction, role)
		}
	}
}

// contractCase describes one mutating action for the checks every
// containment action must pass: see runContract.
type contractCase struct {
	action string
	// seed fills the emulator and returns parameters for a call that has
	// something to change.
	seed func(h *harness) map[string]any
	// done asserts, on what the emulator holds, that the change was made.
	done func(t *testing.T, h *harness, params map[string]any)
	// permission is the IAM action of the call that makes the change, for
	// the denied (in execution and in the preview's dry run) and throttled
	// cases.
	permission string
	// missing, when set, returns parameters naming an entity that does not
	// exist, and the name the error must mention.
	missing func(h *harness) (map[string]any, string)
}

// runContract checks, against the emulator, the promises of every
// mutating action: the happy path stays within the declared permissions
// and outputs; running twice changes the world once (the second run makes
// no change and the emulator's state after it is the state after the
// first); preview changes nothing but reports the change; a missing entity
// and a denied permission fail at once, naming what is wrong; throttling is
// absorbed by retries. TestEveryMutatingActionHasAContractCase requires a
// case for every mutating action of the catalog.
func runContract(t *testing.T, c contractCase) {
	t.Parallel()
	t.Run("happy path", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t)
		params := c.seed(h)
		res := h.execute(c.action, params)
		c.done(t, h, params)
		if len(h.mutations()) == 0 || len(res.Changes) == 0 {
			t.Errorf("mutations %v, changes %+v: want both", h.mutations(), res.Changes)
		}
		if len(res.RequestIDs) == 0 {
			t.Error("no AWS request ids recorded")
		}
		h.assertDeclared(c.action)
		assertOutputsMatchSpec(t, c.action, res)
	})
	t.Run("twice is one effect", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t)
		params := c.seed(h)
		h.execute(c.action, params)
		first, world := h.mutations(), h.emu.State()
		res := h.execute(c.action, params)
		if again := h.mutations(); !slices.Equal(first, again) {
			t.Errorf("second run mutated again: %v, then %v", first, again)
		}
		if after := h.emu.State(); !reflect.DeepEqual(world, after) {
			t.Errorf("the world after two runs differs from the world after one:\n%+v\n%+v", world, after)
		}
		if len(res.Changes) != 0 || len(res.Notes) == 0 {
			t.Errorf("second run: changes %+v, notes %q: want no change and a note saying why", res.Changes, res.Notes)
		}
		c.done(t, h, params)
		assertOutputsMatchSpec(t, c.action, res)
	})
	t.Run("preview mutates nothing", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t)
		params := c.seed(h)
		world := h.emu.State()
		res, err := h.run(actions.Preview, c.action, params)
		if err != nil {
			t.Fatal(err)
		}
		h.assertNoMutation()
		if after := h.emu.State(); !reflect.DeepEqual(world, after) {
			t.Errorf("the world changed in a preview:\n%+v\n%+v", world, after)
		}
		if len(res.Changes) == 0 {
			t.Error("preview reported no change")
		}
		for _, call := range h.emu.Calls() {
			if call.Mutating && !call.DryRun {
				t.Errorf("preview sent %s", call.IAMAction)
			}
		}
		h.assertDeclared(c.action)
		assertOutputsMatchSpec(t, c.action, res)
		// The change is still to be made: executing now makes it.
		h.execute(c.action, params)
		c.done(t, h, params)
	})
	if c.missing != nil {
		t.Run("missing entity", func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			c.seed(h)
			params, name := c.missing(h)
			for _, mode := range []actions.Mode{actions.Execute, actions.Preview} {
				_, err := h.run(mode, c.action, params)
				if !permanentFailure(err, actions.ErrNotFound, name) {
					t.Errorf("%s: err = %v (type %q), want non-retryable NotFound naming %s", mode, err, errorType(err), name)
				}
			}
			h.assertNoMutation()
		})
	}
	t.Run("access denied", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t)
		params := c.seed(h)
		h.emu.Deny(awsemu.AllPrincipals, c.permission)
		_, err := h.run(actions.Execute, c.action, params)
		if !permanentFailure(err, actions.ErrAccessDenied, "add "+c.permission) {
			t.Fatalf("err = %v (type %q), want non-retryable AccessDenied naming %s", err, errorType(err), c.permission)
		}
		// A rehearsal finds the missing permission too when the preview
		// asks AWS (an EC2 dry run); a preview through reads cannot.
		h.emu.ResetCalls()
		_, err = h.run(actions.Preview, c.action, params)
		if countCalls(h, c.permission, true) > 0 {
			if err == nil || errorType(err) != actions.ErrAccessDenied || !strings.Contains(err.Error(), "add "+c.permission) {
				t.Errorf("preview sent %s as a dry run: err = %v, want AccessDenied naming it", c.permission, err)
			}
		} else if err != nil {
			t.Errorf("preview sent no %s, yet failed: %v", c.permission, err)
		}
	})
	t.Run("throttled", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t)
		params := c.seed(h)
		h.emu.FailNext(c.permission, "Throttling", 400, 2)
		h.execute(c.action, params)
		c.done(t, h, params)
		if n := failedWith(h, "Throttling"); n != 2 {
			t.Errorf("throttled calls = %d, want 2", n)
		}
	})
}

// assertOutputsMatchSpec checks that the outputs are exactly the declared
// ones, with the declared types, as they arrive after Temporal's JSON.
func assertOutputsMatchSpec(t *testing.T, action string, res actions.Result) {
	t.Helper()
	sp, ok := actions.Catalog().Lookup(action)
	if !ok {
		t.Fatalf("no spec for %s", action)
	}
	declared := map[string]bool{}
	for _, f := range sp.Outputs {
		declared[f.Name] = true
		v, ok := res.Outputs[f.Name]
		if !ok {
			t.Errorf("%s: output %s missing", action, f.Name)
			continue
		}
		if msg := outputTypeMismatch(v, f.Type); msg != "" {
			t.Errorf("%s: output %s: %s", action, f.Name, msg)
		}
	}
	for name := range res.Outputs {
		if !declared[name] {
			t.Errorf("%s: output %s is not declared", action, name)
		}
	}
}

func outputTypeMismatch(v any, typ spec.Type) string {
	switch typ.Kind {
	case spec.KindString:
		if _, ok := v.(string); !ok {
			return fmt.Sprintf("got %T, want a string", v)
		}
	case spec.KindBool:
		if _, ok := v.(bool); !ok {
			return fmt.Sprintf("got %T, want a bool", v)
		}
	case spec.KindList:
		items, ok := v.([]any)
		if !ok {
			return fmt.Sprintf("got %T (%v), want a list", v, v)
		}
		for i, it := range items {
			if msg := outputTypeMismatch(it, *typ.Elem); msg != "" {
				return fmt.Sprintf("item %d: %s", i, msg)
			}
		}
	}
	return ""
}

// contractCases are the contract cases of every service, each listed in
// the service's test file.
func contractCases() []contractCase {
	return slices.Concat(ec2Contracts(), ec2NetworkContracts(), iamContracts(), autoscalingContracts(), elbContracts(),
		handoverContracts(), forensicPathContracts(), forensicProfileContracts(), ssmContracts())
}

func TestContracts(t *testing.T) {
	for _, c := range contractCases() {
		t.Run(c.action, func(t *testing.T) { runContract(t, c) })
	}
}

// Every action that changes the world keeps the promises runContract
// checks: a new mutating action cannot land without its contract case.
func TestEveryMutatingActionHasAContractCase(t *testing.T) {
	cat := actions.Catalog()
	cases := map[string]bool{}
	for _, c := range contractCases() {
		cases[c.action] = true
		sp, ok := cat.Lookup(c.action)
		switch {
		case !ok:
			t.Errorf("contract case for %s, which is not in the catalog", c.action)
		case !sp.Mutating:
			t.Errorf("contract case for %s, which the catalog says is read-only", c.action)
		case c.seed == nil || c.done == nil || c.permission == "":
			t.Errorf("contract case for %s: seed, done and permission are required", c.action)
		case !slices.Contains(sp.Permissions, c.permission):
			t.Errorf("contract case for %s denies %s, which the action does not declare", c.action, c.permission)
		}
	}
	mutating := 0
	for _, a := range cat.Actions() {
		if !a.Mutating {
			continue
		}
		mutating++
		if !cases[a.Name] {
			t.Errorf("%s is mutating but has no contract case: add a case to its service's contract list in its test file (ec2Contracts, iamContracts, ...: see runContract)", a.Name)
		}
	}
	if mutating == 0 {
		t.Fatal("the catalog has no mutating action")
	}
}

// permanentFailure reports whether err is a failure of the class that
// Temporal does not retry, whose message says each of says.
func permanentFailure(err error, class string, says ...string) bool {
	if err == nil || errorType(err) != class || !isNonRetryable(err) {
		return false
	}
	for _, s := range says {
		if !strings.Contains(err.Error(), s) {
			return false
		}
	}
	return true
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
