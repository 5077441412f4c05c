package actions_test

import (
	"slices"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/testsuite"

	"github.com/cordon-ir/cordon/actions"
	"github.com/cordon-ir/cordon/internal/awsemu"
)

// attempts runs one call as n successive attempts of the same activity:
// each attempt starts with the heartbeat details the previous one
// recorded, which is what Temporal gives a retry. Every attempt here
// completes, so attempt k+1 sees the world exactly as a retry after a
// crash of attempt k (once its AWS calls were made) would.
func (h *harness) attempts(action string, params map[string]any, n int) []actions.Result {
	h.t.Helper()
	var (
		mu      sync.Mutex
		details map[string]any
		results []actions.Result
	)
	for i := range n {
		var suite testsuite.WorkflowTestSuite
		env := suite.NewTestActivityEnvironment()
		env.RegisterActivityWithOptions(h.rt.Activities()[action], activityOptions(action))
		env.SetTestTimeout(30 * time.Second)
		mu.Lock()
		if details != nil {
			env.SetHeartbeatDetails(details)
		}
		mu.Unlock()
		env.SetOnActivityHeartbeatListener(func(_ *activity.Info, d converter.EncodedValues) {
			var v map[string]any
			if err := d.Get(&v); err != nil {
				h.t.Errorf("heartbeat details: %v", err)
				return
			}
			mu.Lock()
			details = v
			mu.Unlock()
		})
		call := actions.Call{
			Action: action, Params: params, Mode: actions.Execute,
			Target: actions.Target{Region: h.emu.Region()},
			Run:    actions.RunRef{RunID: "run-1", Incident: "INC-42", StepID: "step", StartedAt: time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)},
		}
		val, err := env.ExecuteActivity(action, call)
		if err != nil {
			h.t.Fatalf("%s attempt %d: %v", action, i+1, err)
		}
		var res actions.Result
		if err := val.Get(&res); err != nil {
			h.t.Fatal(err)
		}
		results = append(results, res)
	}
	return results
}

func asg(t *testing.T, h *harness, name string) awsemu.AutoScalingGroup {
	t.Helper()
	return held(t, "group", name, h.emu.AutoScalingGroup)
}

func member(g awsemu.AutoScalingGroup, id string) (awsemu.ASGInstance, bool) {
	i := slices.IndexFunc(g.Instances, func(a awsemu.ASGInstance) bool { return a.InstanceID == id })
	if i < 0 {
		return awsemu.ASGInstance{}, false
	}
	return g.Instances[i], true
}

// autoscalingContracts are the contract cases of the Auto Scaling actions
// (see runContract).
func autoscalingContracts() []contractCase {
	return []contractCase{
		{
			action: "aws.autoscaling.detach_instance",
			seed: func(h *harness) map[string]any {
				fleet := h.fleet(awsemu.FleetSpec{Instances: 2, InAutoScalingGroup: 2})
				return map[string]any{"instance_id": fleet.InstanceIDs[0]}
			},
			done: func(t *testing.T, h *harness, params map[string]any) {
				g := asg(t, h, "confluence-asg")
				if _, in := member(g, params["instance_id"].(string)); in {
					t.Errorf("%s is still in %s", params["instance_id"], g.Name)
				}
				if len(g.Instances) != 1 {
					t.Errorf("group members = %+v", g.Instances)
				}
			},
			permission: "autoscaling:DetachInstances",
			// An instance Auto Scaling does not know is in no group: a no-op,
			// tested below, as its permissions cannot tell it from a missing one.
		},
		{
			// At the group's minimum, a decrement needs the minimum lowered
			// first; denying that fails at once, naming it.
			action: "aws.autoscaling.detach_instance",
			seed: func(h *harness) map[string]any {
				ids := groupAtMinimum(h, 2)
				return map[string]any{"instance_id": ids[0], "decrement_desired_capacity": true}
			},
			done: func(t *testing.T, h *harness, params map[string]any) {
				g := asg(t, h, "web-asg")
				if _, in := member(g, params["instance_id"].(string)); in || g.MinSize != 1 || g.DesiredCapacity != 1 {
					t.Errorf("group = %+v", g)
				}
			},
			permission: "autoscaling:UpdateAutoScalingGroup",
		},
	}
}

// groupAtMinimum makes "web-asg" of n instances whose MinSize is n: AWS
// refuses to shrink it.
func groupAtMinimum(h *harness, n int) []string {
	h.t.Helper()
	fleet := h.fleet(awsemu.FleetSpec{Instances: n})
	if _, err := h.emu.AddAutoScalingGroup(awsemu.AutoScalingGroupSpec{Name: "web-asg", InstanceIDs: fleet.InstanceIDs, MinSize: n}); err != nil {
		h.t.Fatal(err)
	}
	return fleet.InstanceIDs
}

// AWS refuses a decrement below the group's minimum ("AutoScalingGroup ...
// has min-size=2, max-size=4, and desired-size=2. To detach 1 instance,
// please update the AutoScalingGroup sizes appropriately."): the step
// lowers MinSize first and reports what it was, in both modes.
func TestDetachInstanceDecrementAtMinimumLowersMinSize(t *testing.T) {
	t.Parallel()
	for _, mode := range []string{"detach", "standby"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			ids := groupAtMinimum(h, 2)
			params := map[string]any{"instance_id": ids[0], "mode": mode, "decrement_desired_capacity": true}

			pre, err := h.run(actions.Preview, "aws.autoscaling.detach_instance", params)
			if err != nil {
				t.Fatal(err)
			}
			if len(h.mutations()) != 0 || !slices.ContainsFunc(pre.Changes, func(c actions.Change) bool { return c.Field == "min_size" }) {
				t.Errorf("preview: changes %+v, mutations %v", pre.Changes, h.mutations())
			}

			res := h.execute("aws.autoscaling.detach_instance", params)
			g := asg(t, h, "web-asg")
			m, in := member(g, ids[0])
			switch {
			case mode == "detach" && in, mode == "standby" && m.LifecycleState != "Standby":
				t.Errorf("instance = %+v (in group %v)", m, in)
			}
			if g.MinSize != 1 || g.DesiredCapacity != 1 {
				t.Errorf("min %d desired %d, want 1 and 1", g.MinSize, g.DesiredCapacity)
			}
			if res.Outputs["min_size_lowered"] != true || res.Outputs["previous_min_size"] != float64(2) {
				t.Errorf("outputs = %+v", res.Outputs)
			}
			if !slices.ContainsFunc(res.Changes, func(c actions.Change) bool {
				return c.Field == "min_size" && c.Before == float64(2) && c.After == float64(1)
			}) {
				t.Errorf("changes = %+v", res.Changes)
			}
			assertOutputsMatchSpec(t, "aws.autoscaling.detach_instance", res)
			h.assertDeclared("aws.autoscaling.detach_instance")

			// The neighbour, contained next, needs the minimum lowered again;
			// a restore wants the first value, which its own output is not.
			res = h.execute("aws.autoscaling.detach_instance", map[string]any{"instance_id": ids[1], "mode": mode, "decrement_desired_capacity": true})
			if g := asg(t, h, "web-asg"); g.MinSize != 0 || g.DesiredCapacity != 0 || res.Outputs["previous_min_size"] != float64(1) {
				t.Errorf("neighbour: group %+v, outputs %+v", g, res.Outputs)
			}
		})
	}
}

// Without the decrement, or above the minimum, the group's sizes are not
// read: the common case costs what it did.
func TestDetachInstanceCallCount(t *testing.T) {
	t.Parallel()
	for _, dec := range []bool{false, true} {
		h := newHarness(t)
		fleet := h.fleet(awsemu.FleetSpec{Instances: 2, InAutoScalingGroup: 2, BehindTargetGroup: 2})
		h.emu.ResetCalls()
		h.execute("aws.autoscaling.detach_instance", map[string]any{"instance_id": fleet.InstanceIDs[0], "decrement_desired_capacity": dec})
		if n := len(h.emu.Calls()); n != 2 {
			t.Errorf("decrement %v: %d calls, want 2 (DescribeAutoScalingInstances, DetachInstances)", dec, n)
		}
	}
}

// A response lost after AWS made the change makes the SDK send the call
// again, which meets the changed world: ValidationError "The instance ...
// is not in InService." (EnterStandby) or "... is not part of Auto Scaling
// group ..." (DetachInstances). The step checks and succeeds, reporting
// the state it found before.
func TestDetachInstanceLostResponseIsAlreadyDone(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ mode, permission, after string }{
		{"detach", "autoscaling:DetachInstances", ""},
		{"standby", "autoscaling:EnterStandby", "Standby"},
	} {
		t.Run(c.mode, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			fleet, id := h.seedInstance(awsemu.FleetSpec{Instances: 2, InAutoScalingGroup: 2})
			h.emu.LoseResponses(c.permission, 1)
			res, err := h.run(actions.Execute, "aws.autoscaling.detach_instance", map[string]any{"instance_id": id, "mode": c.mode})
			if err != nil {
				t.Fatalf("lost response: %v", err)
			}
			if failedWith(h, "ValidationError") != 1 {
				t.Fatalf("the SDK's retry did not meet the ValidationError: calls %+v", h.emu.Calls())
			}
			if res.Outputs["changed"] != true || res.Outputs["auto_scaling_group"] != fleet.AutoScalingGroupName {
				t.Errorf("outputs = %+v", res.Outputs)
			}
			before := fleet.AutoScalingGroupName
			if c.mode == "standby" {
				before = "InService"
			}
			if len(res.Changes) != 1 || res.Changes[0].Before != before || res.Changes[0].After != c.after {
				t.Errorf("changes = %+v", res.Changes)
			}
			// The call that took effect (its answer lost) and the SDK's retry.
			if n := countCalls(h, c.permission, false); n != 2 {
				t.Errorf("%s calls = %d, want 2", c.permission, n)
			}
			m, in := member(asg(t, h, fleet.AutoScalingGroupName), id)
			if c.mode == "detach" && in || c.mode == "standby" && m.LifecycleState != "Standby" {
				t.Errorf("instance = %+v (in group %v)", m, in)
			}
		})
	}
}

func TestDetachInstanceOutputsAndCapacity(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	fleet := h.fleet(awsemu.FleetSpec{Instances: 3, InAutoScalingGroup: 3})
	res := h.execute("aws.autoscaling.detach_instance", map[string]any{"instance_id": fleet.InstanceIDs[0]})
	if res.Outputs["auto_scaling_group"] != fleet.AutoScalingGroupName || res.Outputs["mode"] != "detach" || res.Outputs["changed"] != true {
		t.Errorf("outputs = %+v", res.Outputs)
	}
	if len(res.Changes) != 1 || res.Changes[0].Resource != fleet.InstanceIDs[0] || res.Changes[0].Before != fleet.AutoScalingGroupName {
		t.Errorf("changes = %+v", res.Changes)
	}
	// Without decrement the group keeps its capacity (and so launches a
	// replacement); with it, the capacity drops.
	if g := asg(t, h, fleet.AutoScalingGroupName); g.DesiredCapacity != 3 {
		t.Errorf("desired capacity = %d, want 3", g.DesiredCapacity)
	}
	h.execute("aws.autoscaling.detach_instance", map[string]any{"instance_id": fleet.InstanceIDs[1], "decrement_desired_capacity": true})
	if g := asg(t, h, fleet.AutoScalingGroupName); g.DesiredCapacity != 2 {
		t.Errorf("desired capacity = %d, want 2", g.DesiredCapacity)
	}
}

func TestDetachInstanceNotInAGroupIsANoOp(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	fleet := h.fleet(awsemu.FleetSpec{Instances: 2, InAutoScalingGroup: 1})
	for _, id := range []string{fleet.InstanceIDs[1], "i-0123456789abcdef0"} {
		for _, mode := range []actions.Mode{actions.Execute, actions.Preview} {
			res, err := h.run(mode, "aws.autoscaling.detach_instance", map[string]any{"instance_id": id})
			if err != nil {
				t.Fatal(err)
			}
			if res.Outputs["auto_scaling_group"] != "" || res.Outputs["changed"] != false || len(res.Changes) != 0 || len(res.Notes) == 0 {
				t.Errorf("%s %s: result = %+v", id, mode, res)
			}
			assertOutputsMatchSpec(t, "aws.autoscaling.detach_instance", res)
		}
	}
	h.assertNoMutation()
}

// After a detach the group no longer lists the instance; a retry must
// still report the group, which a restore needs to attach it again.
func TestDetachInstanceRetryRemembersTheGroup(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	fleet := h.fleet(awsemu.FleetSpec{Instances: 2, InAutoScalingGroup: 2})
	results := h.attempts("aws.autoscaling.detach_instance", map[string]any{"instance_id": fleet.InstanceIDs[0]}, 3)
	for i, r := range results {
		if r.Outputs["auto_scaling_group"] != fleet.AutoScalingGroupName || r.Outputs["changed"] != true {
			t.Errorf("attempt %d: outputs = %+v", i+1, r.Outputs)
		}
	}
	if got := h.mutations(); !slices.Equal(got, []string{"autoscaling:DetachInstances"}) {
		t.Errorf("mutations = %v", got)
	}
}

func TestDetachInstanceStandby(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	fleet, id := h.seedInstance(awsemu.FleetSpec{Instances: 2, InAutoScalingGroup: 2, BehindTargetGroup: 2})
	params := map[string]any{"instance_id": id, "mode": "standby", "decrement_desired_capacity": true}

	res, err := h.run(actions.Preview, "aws.autoscaling.detach_instance", params)
	if err != nil || len(h.mutations()) != 0 || len(res.Changes) != 1 || res.Changes[0].After != "Standby" {
		t.Fatalf("preview: %v %+v %v", err, res, h.mutations())
	}

	results := h.attempts("aws.autoscaling.detach_instance", params, 2)
	g := asg(t, h, fleet.AutoScalingGroupName)
	if m, ok := member(g, id); !ok || m.LifecycleState != "Standby" || g.DesiredCapacity != 1 {
		t.Errorf("group = %+v", g)
	}
	// Standby takes it out of the group's target groups too.
	if tg, _ := h.emu.TargetGroup(fleet.TargetGroupARN); slices.ContainsFunc(tg.Targets, func(x awsemu.Target) bool { return x.ID == id }) {
		t.Errorf("still a target: %+v", tg.Targets)
	}
	for i, r := range results {
		if r.Outputs["auto_scaling_group"] != fleet.AutoScalingGroupName || r.Outputs["mode"] != "standby" || r.Outputs["changed"] != true {
			t.Errorf("attempt %d: outputs = %+v", i+1, r.Outputs)
		}
	}
	if got := h.mutations(); !slices.Equal(got, []string{"autoscaling:EnterStandby"}) {
		t.Errorf("mutations = %v", got)
	}
	// A separate step finding it in standby already changed nothing.
	res = h.execute("aws.autoscaling.detach_instance", params)
	if res.Outputs["changed"] != false || len(res.Notes) == 0 {
		t.Errorf("re-run: %+v", res)
	}
	h.assertDeclared("aws.autoscaling.detach_instance")
}
