package main

import (
	"strings"
	"testing"
	"time"
)

// Issue 13, item 6, through the real cordon dev: a fleet's gates live in
// its host runs. From the fleet run, cordon status lists every host and
// what waits there; cordon approve FLEET STEP names the hosts that wait
// (each change differs, so nothing is sent) and --host decides one.
func TestSteerAFleetFromItsRun(t *testing.T) {
	box := startDevSandbox(t)
	if len(box.compromised) < 2 {
		t.Fatalf("the dev fleet has %d compromised hosts, want 2", len(box.compromised))
	}
	runID := startRun(t, box.address, "examples/confluence-cve-2021-26084.yaml", "--input", "compromised="+strings.Join(box.compromised, ","),
		"--input", "final_action=none")

	var status string
	allWait := pollUntil(time.Minute, func() bool {
		status, _, _ = cordon(t, "status", runID, "--address", box.address)
		return strings.Count(status, "gate isolate waits") == len(box.compromised)
	})
	if !allWait {
		t.Fatalf("the hosts never all waited at isolate:\n%s", status)
	}
	for _, h := range box.compromised {
		if !strings.Contains(status, "--host "+h+" --preview ") {
			t.Errorf("status of the fleet run offers no command for host %s:\n%s", h, status)
		}
	}

	as := []string{"--address", box.address, "--as", "alice"}
	out, errOut, code := approveAs(t, "", false, append([]string{runID, "isolate", "--preview", "0123456789ab", "--yes"}, as...)...)
	if code != 1 || !strings.Contains(errOut, "hosts of fleet run "+runID+" wait at gate isolate") || !strings.Contains(errOut, "--host "+box.compromised[0]) {
		t.Errorf("approve on the fleet run without --host: exit %d\n%s", code, errOut)
	}

	// The host's own preview, as status printed it.
	first := box.compromised[0]
	line := ""
	for _, l := range strings.Split(status, "\n") {
		if strings.Contains(l, "--host "+first+" --preview ") {
			line = l
		}
	}
	preview := line[strings.LastIndex(line, "--preview ")+len("--preview "):]
	out, errOut, code = approveAs(t, "", false, append([]string{runID, "isolate", "--host", first, "--preview", preview, "--yes"}, as...)...)
	if code != 0 || !strings.Contains(out, "approved isolate: the change is as approved; acting now") {
		t.Fatalf("approve --host %s: exit %d\nstdout %s\nstderr %s", first, code, out, errOut)
	}
	status, _, _ = cordon(t, "status", runID, "--address", box.address)
	if n := strings.Count(status, "gate isolate waits"); n != len(box.compromised)-1 {
		t.Errorf("after deciding %s, %d hosts wait at isolate:\n%s", first, n, status)
	}
}
