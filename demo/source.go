package demo

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// fleetTriggerName is the fleet runbook's launch trigger (the abuse
// notice's), whose inputs the demo's copy extends.
const fleetTriggerName = "abuse-notice-fleet"

// demoSource is the runbook source the demo's worker vouches for: a copy
// of the examples in which the fleet runbook's launch trigger also passes
// the forensic inputs (forensics on, the demo's memory tool and its
// SHA-256). The examples leave forensics off until an organisation has
// set up its forensic account and named its own mirror of the tool
// (docs/forensics.md); the demo has both, so the run the abuse notice
// launches keeps the evidence. remove deletes the copy.
func demoSource(examples string) (dir string, remove func(), err error) {
	files, err := filepath.Glob(filepath.Join(examples, "*.yaml"))
	if err != nil || len(files) == 0 {
		return "", nil, fmt.Errorf("no runbooks in %s: run cordon demo from the repository root, or pass --examples DIR", examples)
	}
	dir, err = os.MkdirTemp("", "cordon-demo-runbooks-")
	if err != nil {
		return "", nil, fmt.Errorf("copy the example runbooks: %w", err)
	}
	remove = func() { _ = os.RemoveAll(dir) }
	for _, path := range files {
		src, err := os.ReadFile(path)
		if err != nil {
			remove()
			return "", nil, fmt.Errorf("read runbook %s: %w", path, err)
		}
		if filepath.Base(path) == fleetRunbook {
			if src, err = withForensicInputs(src); err != nil {
				remove()
				return "", nil, fmt.Errorf("%s: %w", path, err)
			}
		}
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(path)), src, 0o600); err != nil {
			remove()
			return "", nil, fmt.Errorf("copy runbook %s: %w", path, err)
		}
	}
	return dir, remove, nil
}

// withForensicInputs adds the demo's forensic inputs to the fleet
// runbook's launch trigger, after the region its inputs start with.
func withForensicInputs(src []byte) ([]byte, error) {
	text := string(src)
	at := strings.Index(text, "- name: "+fleetTriggerName+"\n")
	const region = "      region: ${{ finding.region }}\n"
	if at < 0 || !strings.Contains(text[at:], region) {
		return nil, fmt.Errorf("no trigger %s whose inputs start with the region: the demo cannot pass it the forensic inputs", fleetTriggerName)
	}
	cut := at + strings.Index(text[at:], region) + len(region)
	extra := fmt.Sprintf("      forensics: true\n      memory_tool_url: %q\n      memory_tool_sha256: %q\n", memoryToolURL, memoryToolSHA256)
	return []byte(text[:cut] + extra + text[cut:]), nil
}
