package actions

import "testing"

// What Cordon derives from the step's identity (the two-phase group's
// name, the NACL's client token, the revocation policy's Sid, the SSM
// command's comment) must not change between versions: a retry run by a
// newer worker finds what an older one's attempt made only by these
// names. The values were made by the code before stepDigest served them.
func TestStepDerivedNamesAreStable(t *testing.T) {
	x := &execution{call: Call{Action: "aws.ssm.run_triage", Run: RunRef{RunID: "run-1", StepID: "isolate", Item: 2}}}
	for _, c := range []struct{ what, got, want string }{
		{"two-phase group", untrackedQuarantine(x, "cordon-quarantine", "i-0123456789abcdef0").name, "cordon-quarantine-untracked-i-0123456789abcdef0-4aadf56a"},
		{"NACL client token", "cordon-" + x.stepDigest(16, "vpc-1"), "cordon-e96c1c1a106aa52faacdf7a6964c3430"},
		{"revocation Sid", x.revocationSid(), "CordonRevoke378d726b17429a50"},
		{"SSM comment", x.stepComment(), "cordon aws.ssm.run_triage a6364b071fc0785f"},
	} {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.what, c.got, c.want)
		}
	}
}
