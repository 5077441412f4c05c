package workflows_test

import (
	"os/exec"
	"strings"
	"testing"
)

// The interpreter and the report speak the workflow↔activity vocabulary
// (package actions/wire), not the AWS implementations: they must not link
// the AWS SDK (they did, 85 packages of it, through package actions).
func TestInterpreterAndReportDoNotLinkTheAWSSDK(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "github.com/cordon-ir/cordon/workflows", "github.com/cordon-ir/cordon/report").Output()
	if err != nil {
		t.Skipf("go list: %v", err)
	}
	for _, pkg := range strings.Fields(string(out)) {
		if strings.HasPrefix(pkg, "github.com/aws/") || pkg == "github.com/cordon-ir/cordon/actions" {
			t.Errorf("workflows or report links %s", pkg)
		}
	}
}
