package report

import (
	"testing"

	"github.com/cordon-ir/cordon/actions"
	"github.com/cordon-ir/cordon/actions/spec"
)

// Every action and output the report keys on is one the catalog declares,
// with the shape the report reads.
func TestReportKeysOnTheCatalog(t *testing.T) {
	cat := actions.Catalog()
	for _, name := range isolatingActions {
		a, ok := cat.Lookup(name)
		if !ok {
			t.Errorf("isolating action %s is not in the catalog", name)
		} else if !a.Mutating {
			t.Errorf("isolating action %s does not change anything", name)
		}
	}
	for name, output := range snapshotOutputs {
		a, ok := cat.Lookup(name)
		if !ok {
			t.Errorf("snapshot action %s is not in the catalog", name)
			continue
		}
		f, ok := a.OutputType().Field(output)
		if !ok {
			t.Errorf("action %s declares no output %s (it has %v)", name, output, a.OutputType().FieldNames())
		} else if f.Type.Kind != spec.KindList || f.Type.Elem == nil || f.Type.Elem.Kind != spec.KindString {
			t.Errorf("output %s of %s is %s, not a list of ids", output, name, f.Type)
		}
	}
}
