package actions_test

import (
	"context"
	"maps"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/cordon-ir/cordon/actions"
)

// The catalog is what the compiler, the policy generator and approvers
// trust: every entry must be complete and consistent.
func TestCatalogIsConsistent(t *testing.T) {
	cat := actions.Catalog()
	perm := regexp.MustCompile(`^(ec2|iam|autoscaling|elasticloadbalancing|sts|kms|cloudtrail|s3|ssm):[A-Z][A-Za-z0-9]+$`)
	name := regexp.MustCompile(`^[a-z0-9]+(\.[a-z0-9]+)*\.[a-z][a-z0-9_]*$`)
	ident := regexp.MustCompile(`^[a-z][a-z0-9_]*$`)
	required := []string{
		"aws.ec2.describe_instance", "aws.ec2.enable_termination_protection", "aws.ec2.tag",
		"aws.autoscaling.detach_instance", "aws.elbv2.deregister_instance", "aws.ec2.isolate_instance",
		"aws.ec2.restore_isolation", "aws.ec2.snapshot_volumes", "aws.ec2.capture_console_output",
		"aws.ec2.disable_instance_metadata", "aws.iam.revoke_role_sessions", "aws.iam.deactivate_access_keys",
		"aws.iam.attach_user_deny_all", "aws.iam.delete_login_profile", "aws.ec2.stop_instance",
		"aws.ec2.terminate_instance", "aws.ec2.find_instances", "slack.notify", "core.wait",
	}
	for _, n := range required {
		if _, ok := cat.Lookup(n); !ok {
			t.Errorf("catalog lacks %s", n)
		}
	}
	for _, a := range cat.Actions() {
		if !name.MatchString(a.Name) {
			t.Errorf("%s: bad name", a.Name)
		}
		if a.Service != "slack" && a.Service != "core" && len(a.Permissions) == 0 {
			t.Errorf("%s: an AWS action must declare its IAM permissions", a.Name)
		}
		for _, p := range slices.Concat(a.Permissions, a.ForensicPermissions) {
			if !perm.MatchString(p) {
				t.Errorf("%s: %q is not an IAM action", a.Name, p)
			}
		}
		for _, p := range a.Params {
			if !ident.MatchString(p.Name) {
				t.Errorf("%s: param %q is not an identifier", a.Name, p.Name)
			}
		}
		for _, o := range a.Outputs {
			if !ident.MatchString(o.Name) || o.Description == "" {
				t.Errorf("%s: output %q needs an identifier name and a description", a.Name, o.Name)
			}
		}
		if a.Timeout <= 0 {
			t.Errorf("%s: no default timeout", a.Name)
		}
	}
	// What responders consider dangerous must be marked so.
	for _, n := range []string{"aws.ec2.isolate_instance", "aws.ec2.stop_instance", "aws.ec2.terminate_instance",
		"aws.iam.revoke_role_sessions", "aws.iam.deactivate_access_keys", "aws.iam.delete_login_profile"} {
		if a, _ := cat.Lookup(n); !a.Destructive {
			t.Errorf("%s must be destructive", n)
		}
	}
	for _, n := range []string{"aws.ec2.describe_instance", "aws.ec2.find_instances", "aws.ec2.capture_console_output"} {
		if a, _ := cat.Lookup(n); a.Mutating {
			t.Errorf("%s must be read-only", n)
		}
	}
}

// Every catalog action is an activity of the runtime, except core.wait,
// which the workflow carries out itself; the runtime refuses to run it
// with an error that says so.
func TestEveryActionIsAnActivityExceptTheWorkflowsOwn(t *testing.T) {
	rt := actions.NewRuntime(actions.Options{})
	want := slices.DeleteFunc(actions.Catalog().Names(), func(n string) bool { return n == "core.wait" })
	if got := rt.Implemented(); !slices.Equal(got, want) {
		t.Errorf("implemented = %v, want %v", got, want)
	}
	if got := slices.Sorted(maps.Keys(rt.Activities())); !slices.Equal(got, want) {
		t.Errorf("activities = %v, want %v", got, want)
	}
	_, err := rt.Run(context.Background(), actions.Call{Action: "core.wait", Params: map[string]any{"duration": "5m"}})
	if errorType(err) != actions.ErrBadParams || !strings.Contains(err.Error(), "carried out by the workflow itself") {
		t.Errorf("running core.wait as an activity: err = %v", err)
	}
}

// Every permission of every action says how `cordon policy` grants it:
// on resources of its own service, or on "*" with the reason. The
// destructive EC2 calls and the IAM writes must be scoped (the AWS Service
// Authorization Reference gives them resource types).
func TestEveryPermissionIsScopedOrSaysWhyNot(t *testing.T) {
	mustScope := []string{
		"ec2:StopInstances", "ec2:TerminateInstances", "ec2:ModifyInstanceAttribute", "ec2:ModifyInstanceMetadataOptions",
		"ec2:ModifyNetworkInterfaceAttribute", "iam:PutRolePolicy", "iam:UpdateAssumeRolePolicy", "iam:PassRole",
		"iam:PutUserPolicy", "iam:AttachUserPolicy", "iam:UpdateAccessKey", "iam:DeleteLoginProfile", "iam:DeactivateMFADevice",
	}
	for _, a := range actions.Catalog().Actions() {
		for _, p := range a.Permissions {
			sc, ok := a.ScopeOf(p)
			switch {
			case !ok:
				t.Errorf("%s: %s has no scope", a.Name, p)
			case len(sc.Resources) == 0 && slices.Contains(mustScope, p):
				t.Errorf("%s: %s is left on * (%s)", a.Name, p, sc.Unscoped)
			}
			service, _, _ := strings.Cut(p, ":")
			for _, r := range sc.Resources {
				if !strings.HasPrefix(r, "arn:${Partition}:"+service+":") {
					t.Errorf("%s: %s granted on %s, another service's resource", a.Name, p, r)
				}
			}
		}
	}
}
