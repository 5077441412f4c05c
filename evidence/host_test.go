package evidence_test

import (
	"strings"
	"testing"

	"github.com/cordon-ir/cordon/actions/wire"
	"github.com/cordon-ir/cordon/evidence"
)

// A host's prefix holds exactly the keys of its artefacts in the case, and
// no other host's or case's.
func TestHostPrefixHoldsTheHostsArtefacts(t *testing.T) {
	cfg := evidence.Config{Bucket: "cordon-evidence", Prefix: "cases"}
	store := evidence.New(nil, cfg, nil)
	run := wire.RunRef{RunID: "run-1", StepID: "memory", Incident: "INC-42"}
	prefix := cfg.HostPrefix("INC-42", "i-0abc1234")
	if prefix != "cases/INC-42/i-0abc1234/" {
		t.Errorf("prefix %q", prefix)
	}
	mine := store.Key(evidence.Item{Case: "INC-42", Subject: "i-0abc1234", Kind: "memory", Name: "memory.lime", Run: run})
	other := store.Key(evidence.Item{Case: "INC-42", Subject: "i-0abc12345", Kind: "memory", Name: "memory.lime", Run: run})
	elsewhere := store.Key(evidence.Item{Case: "INC-43", Subject: "i-0abc1234", Kind: "memory", Name: "memory.lime", Run: run})
	if !strings.HasPrefix(mine, prefix) || strings.HasPrefix(other, prefix) || strings.HasPrefix(elsewhere, prefix) {
		t.Errorf("prefix %q: own key %q, another host's %q, another case's %q", prefix, mine, other, elsewhere)
	}
}
