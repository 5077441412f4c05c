package intake_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/cordon-ir/cordon/actions"
	"github.com/cordon-ir/cordon/intake"
	"github.com/cordon-ir/cordon/runbooks"
	"github.com/cordon-ir/cordon/triggers"
)

// compileFile compiles a runbook of testdata (or elsewhere), resolving
// uses: among the files of its directory.
func compileFile(t testing.TB, path string) *runbooks.Plan {
	t.Helper()
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(filepath.Dir(path), "*.yaml"))
	p, diags := runbooks.NewCompiler(actions.Catalog(), runbooks.NewDirResolver(files...)).Compile(path, src)
	if p == nil {
		t.Fatalf("%s: %s", path, diags.Error())
	}
	return p
}

// event is a fixture of package triggers' testdata with edit applied to
// its decoded JSON (the envelope; "detail" holds the finding).
func event(t testing.TB, fixture string, edit func(ev map[string]any)) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "triggers", "testdata", fixture))
	if err != nil {
		t.Fatal(err)
	}
	var ev map[string]any
	if err := json.Unmarshal(b, &ev); err != nil {
		t.Fatal(err)
	}
	if edit != nil {
		edit(ev)
	}
	out, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// guardDuty edits a GuardDuty finding event: its finding id, instance,
// region, severity score and count.
func guardDuty(id, instance, region string, severity float64, count int) func(map[string]any) {
	return func(ev map[string]any) {
		d := ev["detail"].(map[string]any)
		d["id"], d["region"], d["severity"] = id, region, severity
		d["arn"] = "arn:aws:guardduty:" + region + ":123456789012:detector/5eb6f1a3b2c4d5e6f7a8b9c0d1e2f3a4/finding/" + id
		res := d["resource"].(map[string]any)["instanceDetails"].(map[string]any)
		res["instanceId"] = instance
		svc := d["service"].(map[string]any)
		svc["count"] = count
		svc["eventLastSeen"] = time.Date(2024, 5, 1, 12, 30+count, 0, 0, time.UTC).Format(time.RFC3339)
	}
}

// submission decides an event for plans, as the intake's I/O side does.
func submission(t testing.TB, plans []*runbooks.Plan, ev []byte, via string) intake.Submission {
	t.Helper()
	rs, err := triggers.Decide(plans, ev)
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 1 {
		t.Fatalf("%d findings in the event", len(rs))
	}
	return intake.Submission{Finding: rs[0].Finding, Decisions: rs[0].Decisions, ReceivedAt: time.Now().UTC(), Via: via}
}
