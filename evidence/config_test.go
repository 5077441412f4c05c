package evidence_test

import (
	"strings"
	"testing"

	"github.com/cordon-ir/cordon/actions/wire"
	"github.com/cordon-ir/cordon/evidence"
)

// The configuration is checked whole, each problem with what to write.
func TestConfigValidate(t *testing.T) {
	if err := (evidence.Config{}).Validate(); err != nil {
		t.Errorf("no store: %v", err)
	}
	if err := (evidence.Config{Bucket: "cordon-evidence", Prefix: "cases/", ObjectLock: "optional", Mode: "governance", RetainDays: 30}).Validate(); err != nil {
		t.Errorf("a full section: %v", err)
	}
	err := (evidence.Config{Bucket: "Cordon_Evidence", ObjectLock: "maybe", Mode: "legal-hold", RetainDays: -1, Prefix: "/cases"}).Validate()
	for _, want := range []string{"evidence.bucket", "evidence.object_lock", "evidence.mode", "evidence.retain_days", "evidence.prefix"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("want an error naming %s, got %v", want, err)
		}
	}
	if err := (evidence.Config{Account: "forensic"}).Validate(); err == nil || !strings.Contains(err.Error(), "bucket is required") {
		t.Errorf("a section without a bucket: %v", err)
	}
}

// A case is the run's incident when it makes a key segment, else its run
// id made into one: keys never gain a level from a slash in an id.
func TestCaseOf(t *testing.T) {
	for _, c := range []struct {
		run  wire.RunRef
		want string
	}{
		{wire.RunRef{RunID: "r", Incident: "INC-42"}, "INC-42"},
		{wire.RunRef{RunID: "fleet-1/contain/2"}, "fleet-1-contain-2"},
		{wire.RunRef{RunID: "r-1", Incident: "INC 42/a"}, "r-1"},
	} {
		if got := evidence.CaseOf(c.run); got != c.want {
			t.Errorf("CaseOf(%+v) = %q, want %q", c.run, got, c.want)
		}
	}
}
