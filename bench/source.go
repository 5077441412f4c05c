package bench

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"gopkg.in/yaml.v3"
)

// writeRunbookSource writes the bench's runbook source into dir: a copy
// of every runbook in examples, with the fleet runbook's contain step set
// to max_concurrency concurrency. The worker is configured with dir as its
// runbook source (runbooks.dir), so the fleet plan runs vouched for, as a
// reviewed runbook does, rather than as an ad-hoc plan that waits for a
// lead; and the override is in a file, not in the plan alone. Only the
// number changes: the rest of the file is byte for byte the example.
func writeRunbookSource(dir, examples string, concurrency int) error {
	var files []string
	for _, pattern := range []string{"*.yaml", "*.yml"} {
		m, err := filepath.Glob(filepath.Join(examples, pattern))
		if err != nil {
			return err
		}
		files = append(files, m...)
	}
	if len(files) == 0 {
		return fmt.Errorf("no runbooks in %s: run cordon bench from the repository root, or pass --examples DIR", examples)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create the bench's runbook source: %w", err)
	}
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			return fmt.Errorf("read runbook %s: %w", f, err)
		}
		if filepath.Base(f) == fleetRunbook {
			if src, err = setMaxConcurrency(src, containStep, concurrency); err != nil {
				return fmt.Errorf("%s: %w", f, err)
			}
		}
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(f)), src, 0o600); err != nil {
			return fmt.Errorf("write the bench's copy of %s: %w", f, err)
		}
	}
	return nil
}

// setMaxConcurrency rewrites the max_concurrency value of step id in a
// runbook's source, in place: the value's text at its line and column is
// replaced, nothing else.
func setMaxConcurrency(src []byte, id string, n int) ([]byte, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(src, &doc); err != nil {
		return nil, err
	}
	value := findMaxConcurrency(&doc, id)
	if value == nil {
		return nil, fmt.Errorf("step %s has no max_concurrency to override: the benchmark follows that runbook", id)
	}
	lines := bytes.SplitAfter(src, []byte("\n"))
	line := lines[value.Line-1]
	at := value.Column - 1
	if !bytes.HasPrefix(line[at:], []byte(value.Value)) {
		return nil, fmt.Errorf("max_concurrency of step %s: %q is not at line %d, column %d", id, value.Value, value.Line, value.Column)
	}
	edited := append(append(append([]byte{}, line[:at]...), strconv.Itoa(n)...), line[at+len(value.Value):]...)
	lines[value.Line-1] = edited
	return bytes.Join(lines, nil), nil
}

// findMaxConcurrency finds the max_concurrency value node of step id in
// the runbook's steps.
func findMaxConcurrency(doc *yaml.Node, id string) *yaml.Node {
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		return nil
	}
	steps := mappingValue(doc.Content[0], "steps")
	if steps == nil || steps.Kind != yaml.SequenceNode {
		return nil
	}
	for _, st := range steps.Content {
		if v := mappingValue(st, "id"); v != nil && v.Value == id {
			if mc := mappingValue(st, "max_concurrency"); mc != nil && mc.Kind == yaml.ScalarNode {
				return mc
			}
		}
	}
	return nil
}

func mappingValue(m *yaml.Node, key string) *yaml.Node {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}
