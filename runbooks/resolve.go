package runbooks

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// DirResolver finds a child runbook named NAME as NAME.yaml or NAME.yml in
// the directory of the runbook that uses it, or among extra files indexed
// by their metadata.name (the files given on the command line).
type DirResolver struct {
	byName map[string]string // metadata.name → path
}

// NewDirResolver indexes the given files by metadata.name. Files that do
// not parse are skipped here; compiling them reports why.
func NewDirResolver(files ...string) *DirResolver {
	r := &DirResolver{byName: map[string]string{}}
	for _, f := range files {
		src, err := ReadFile(f)
		if err != nil {
			continue
		}
		d := &diags{}
		root := parseYAML(d, src)
		if root == nil {
			continue
		}
		_, md := lookup(root, "metadata")
		if name := scalar(md, "name"); name != "" {
			if _, seen := r.byName[name]; !seen {
				r.byName[name] = f
			}
		}
	}
	return r
}

// Resolve implements Resolver.
func (r *DirResolver) Resolve(from, name string) (string, []byte, error) {
	var candidates []string
	if p, ok := r.byName[name]; ok {
		candidates = append(candidates, p)
	}
	dir := filepath.Dir(from)
	candidates = append(candidates, filepath.Join(dir, name+".yaml"), filepath.Join(dir, name+".yml"))
	for _, c := range candidates {
		src, err := ReadFile(c)
		if err == nil {
			return c, src, nil
		}
		if !errors.Is(err, os.ErrNotExist) {
			return "", nil, err
		}
	}
	return "", nil, fmt.Errorf("no runbook named %q (looked for %s.yaml in %s)", name, name, dir)
}

// ReadFile reads a runbook, refusing files over MaxFileSize without
// reading them whole.
func ReadFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	src, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return src, nil
}
