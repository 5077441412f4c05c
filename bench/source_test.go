package bench

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The bench's copy of the fleet runbook differs from the example in the
// contain step's max_concurrency alone, and every other runbook is copied
// as it is, so the worker's source holds the child runbook too.
func TestRunbookSourceChangesOnlyTheFanOut(t *testing.T) {
	dir := t.TempDir()
	if err := writeRunbookSource(dir, "../examples", 123); err != nil {
		t.Fatal(err)
	}
	orig, err := os.ReadFile(filepath.Join("../examples", fleetRunbook))
	if err != nil {
		t.Fatal(err)
	}
	copied, err := os.ReadFile(filepath.Join(dir, fleetRunbook))
	if err != nil {
		t.Fatal(err)
	}
	a, b := strings.Split(string(orig), "\n"), strings.Split(string(copied), "\n")
	if len(a) != len(b) {
		t.Fatalf("%d lines, the example has %d", len(b), len(a))
	}
	var diff []string
	for i := range a {
		if a[i] != b[i] {
			diff = append(diff, a[i]+" → "+b[i])
		}
	}
	if len(diff) != 1 || !strings.HasSuffix(diff[0], "max_concurrency: 123") {
		t.Errorf("changed lines: %q", diff)
	}
	host, err := os.ReadFile(filepath.Join(dir, "ec2-compromise.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if want, _ := os.ReadFile("../examples/ec2-compromise.yaml"); !bytes.Equal(host, want) {
		t.Error("the child runbook's copy differs from the example")
	}
}

func TestSetMaxConcurrencyWithoutOne(t *testing.T) {
	src := []byte("steps:\n  - id: contain\n    uses: x\n")
	if _, err := setMaxConcurrency(src, containStep, 5); err == nil || !strings.Contains(err.Error(), "no max_concurrency") {
		t.Errorf("err = %v", err)
	}
}
