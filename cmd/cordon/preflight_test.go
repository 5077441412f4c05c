package main

import (
	"strings"
	"testing"
)

// cordon run --follow and cordon status show an unknown instance id as
// the worker's one-line refusal, before anything ran.
func TestRunUnknownInstanceSaysSoInOneLine(t *testing.T) {
	address, _ := devSandbox(t)
	const ghost = "i-0123456789abcdef0"
	want := "instance " + ghost + " does not exist in account production region us-east-1: check the id (cordon run ec2-compromise --input instance_id=…)"
	out, errOut, code := cordon(t, "run", "examples/ec2-compromise.yaml", "--input", "instance_id="+ghost, "--follow", "--address", address)
	t.Logf("run --follow:\n%s\n%s", out, errOut)
	if code != 1 || !strings.Contains(out+errOut, want) {
		t.Fatalf("run --follow: exit %d, want 1 and %q\n%s\n%s", code, want, out, errOut)
	}
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, "step_") || strings.Contains(l, "action_") {
			t.Errorf("a step ran: %s", l)
		}
	}
	runID := strings.Fields(out)[0]
	status, _, _ := cordon(t, "status", runID, "--address", address)
	if !strings.Contains(status, "refused: start ") || !strings.Contains(status, want) {
		t.Errorf("status does not show the refusal:\n%s", status)
	}
}
