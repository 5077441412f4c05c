// Package intaketest writes the events that deliver a finding, for tests
// of the intake: a GuardDuty finding about an instance as GuardDuty sends
// it, as the delegated administrator's account delivers it, and as its
// copy in Security Hub, built from package triggers' fixtures (the real
// event shapes) with the finding's own ids; and it decides them against
// compiled runbooks as the intake's I/O side does.
package intaketest

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/cordon-ir/cordon/actions"
	"github.com/cordon-ir/cordon/intake"
	"github.com/cordon-ir/cordon/internal/awsemu"
	"github.com/cordon-ir/cordon/runbooks"
	"github.com/cordon-ir/cordon/triggers"
)

// Finding is a GuardDuty finding about an EC2 instance.
type Finding struct {
	ID       string
	Account  string // default 123456789012
	Region   string // default us-east-1
	Instance string
	// Severity is GuardDuty's score (default 8: high).
	Severity float64
	// Count is how often GuardDuty saw the activity (default 1); a higher
	// one is an update of the finding. LastSeen moves with it.
	Count int
}

func (f Finding) withDefaults() Finding {
	if f.Account == "" {
		f.Account = "123456789012"
	}
	if f.Region == "" {
		f.Region = "us-east-1"
	}
	if f.Severity == 0 {
		f.Severity = 8
	}
	if f.Count == 0 {
		f.Count = 1
	}
	return f
}

// arn is the GuardDuty finding's ARN, which its Security Hub copy uses as
// its Id.
func (f Finding) arn() string {
	return fmt.Sprintf("arn:aws:guardduty:%s:%s:detector/5eb6f1a3b2c4d5e6f7a8b9c0d1e2f3a4/finding/%s", f.Region, f.Account, f.ID)
}

func (f Finding) lastSeen() string {
	return time.Date(2024, 5, 1, 12, 30, 0, 0, time.UTC).Add(time.Duration(f.Count) * time.Minute).Format(time.RFC3339)
}

// GuardDuty is the "GuardDuty Finding" event of f, delivered in f's own
// account.
func (f Finding) GuardDuty(tb testing.TB) []byte {
	return f.delivered(tb, f.withDefaults().Account)
}

// AdminCopy is the same finding as the delegated administrator account
// delivers it: the envelope's account and region are the administrator's,
// the finding is the same.
func (f Finding) AdminCopy(tb testing.TB, admin string) []byte {
	return f.delivered(tb, admin)
}

func (f Finding) delivered(tb testing.TB, envelopeAccount string) []byte {
	tb.Helper()
	f = f.withDefaults()
	return edit(tb, "guardduty-ec2.json", func(ev map[string]any) {
		ev["id"], ev["account"] = "gd-"+f.ID+"-"+envelopeAccount+fmt.Sprint(f.Count), envelopeAccount
		d := object(ev, "detail")
		d["id"], d["accountId"], d["region"], d["arn"], d["severity"] = f.ID, f.Account, f.Region, f.arn(), f.Severity
		object(object(d, "resource"), "instanceDetails")["instanceId"] = f.Instance
		svc := object(d, "service")
		svc["count"], svc["eventLastSeen"] = f.Count, f.lastSeen()
	})
}

// SecurityHub is f's copy in Security Hub ("Security Hub Findings -
// Imported", ASFF), as the aggregation region delivers it.
func (f Finding) SecurityHub(tb testing.TB) []byte {
	tb.Helper()
	f = f.withDefaults()
	return edit(tb, "securityhub-guardduty.json", func(ev map[string]any) {
		ev["id"] = "sh-" + f.ID + fmt.Sprint(f.Count)
		a := object(ev, "detail")["findings"].([]any)[0].(map[string]any)
		a["Id"], a["AwsAccountId"], a["Region"], a["LastObservedAt"] = f.arn(), f.Account, f.Region, f.lastSeen()
		label := "HIGH"
		if f.Severity >= 9 {
			label = "CRITICAL"
		} else if f.Severity < 7 {
			label = "MEDIUM"
		}
		object(a, "Severity")["Label"] = label
		object(a, "ProductFields")["aws/guardduty/service/count"] = fmt.Sprint(f.Count)
		res := a["Resources"].([]any)[0].(map[string]any)
		res["Id"], res["Region"] = fmt.Sprintf("arn:aws:ec2:%s:%s:instance/%s", f.Region, f.Account, f.Instance), f.Region
	})
}

func object(m map[string]any, key string) map[string]any { return m[key].(map[string]any) }

// Event is the fixture of package triggers (triggers/testdata) with
// change, when not nil, applied to its JSON: an event of every kind, trap
// and drop rule.
func Event(tb testing.TB, fixture string, change func(event map[string]any)) []byte {
	tb.Helper()
	if change == nil {
		change = func(map[string]any) {}
	}
	return edit(tb, fixture, change)
}

// edit is a fixture of package triggers with change applied to its JSON.
func edit(tb testing.TB, fixture string, change func(map[string]any)) []byte {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot(tb), "triggers", "testdata", fixture))
	if err != nil {
		tb.Fatal(err)
	}
	var ev map[string]any
	if err := json.Unmarshal(b, &ev); err != nil {
		tb.Fatal(err)
	}
	change(ev)
	out, err := json.Marshal(ev)
	if err != nil {
		tb.Fatal(err)
	}
	return out
}

// repoRoot is the repository's root, found from this file.
func repoRoot(tb testing.TB) string {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		tb.Fatal("intaketest: cannot tell where the repository is")
	}
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// Seed puts the finding an event carries into the emulator's source API
// (GuardDuty, Security Hub or Health), as the service that sent the event
// holds it, after the edits to the event's detail: the intake fetches it
// from there before acting on the event.
func Seed(tb testing.TB, emu *awsemu.Emulator, event []byte, edits ...func(detail map[string]any)) {
	tb.Helper()
	var ev struct {
		DetailType string `json:"detail-type"`
		Account    string
		Detail     map[string]any
	}
	if err := json.Unmarshal(event, &ev); err != nil {
		tb.Fatal(err)
	}
	for _, e := range edits {
		e(ev.Detail)
	}
	raw := func(v any) json.RawMessage {
		b, err := json.Marshal(v)
		if err != nil {
			tb.Fatal(err)
		}
		return b
	}
	var err error
	switch ev.DetailType {
	case "GuardDuty Finding":
		_, err = emu.PutGuardDutyFinding(ev.Detail["accountId"].(string), ev.Detail["region"].(string), raw(ev.Detail))
	case "Security Hub Findings - Imported":
		for _, f := range ev.Detail["findings"].([]any) {
			a := f.(map[string]any)
			if err = emu.PutSecurityHubFinding(a["AwsAccountId"].(string), a["Region"].(string), raw(a)); err != nil {
				break
			}
		}
	default:
		account, _ := ev.Detail["affectedAccount"].(string)
		if account == "" {
			account = ev.Account
		}
		err = emu.PutHealthEvent(account, raw(ev.Detail), nil)
	}
	if err != nil {
		tb.Fatal(err)
	}
}

// Submission decides event (one finding) for plans, as the intake's I/O
// side does once it has verified the finding.
func Submission(tb testing.TB, plans []*runbooks.Plan, event []byte, via string) intake.Submission {
	tb.Helper()
	rs, err := triggers.Decide(plans, event)
	if err != nil {
		tb.Fatal(err)
	}
	if len(rs) != 1 {
		tb.Fatalf("%d findings in the event, want 1", len(rs))
	}
	return intake.Submission{Finding: rs[0].Finding, Decisions: rs[0].Decisions, ReceivedAt: time.Now().UTC(), Via: via}
}

// Compile compiles the runbook at path, resolving uses: among the
// runbooks of its directory.
func Compile(tb testing.TB, path string) *runbooks.Plan {
	tb.Helper()
	src, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(filepath.Dir(path), "*.yaml"))
	p, diags := runbooks.NewCompiler(actions.Catalog(), runbooks.NewDirResolver(files...)).Compile(path, src)
	if p == nil {
		tb.Fatalf("%s: %s", path, diags.Error())
	}
	return p
}
