package main

import (
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/cordon-ir/cordon/worker"
)

// configKeys lists every key of cordon.yaml as a dotted path: "[]" for a
// list's items, "NAME" for a map's keys. A path in stop is listed but not
// descended into (documented as "the same fields as ...").
func configKeys(prefix string, t reflect.Type, stop map[string]bool) []string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	var keys []string
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "" || name == "-" {
			continue
		}
		path := prefix + name
		ft := f.Type
		for ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		switch {
		case stop[path]:
			keys = append(keys, path)
		case ft.Kind() == reflect.Struct && ft.PkgPath() != "time":
			keys = append(keys, configKeys(path+".", ft, stop)...)
		case ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct:
			keys = append(keys, configKeys(path+"[].", ft.Elem(), stop)...)
		case ft.Kind() == reflect.Map && ft.Elem().Kind() == reflect.Struct:
			keys = append(keys, configKeys(path+".NAME.", ft.Elem(), stop)...)
		default:
			keys = append(keys, path)
		}
	}
	return keys
}

// Every key of cordon.yaml is in the configuration reference of
// docs/operations.md, and in the commented example.
func TestOperationsDocumentsEveryConfigKey(t *testing.T) {
	ops := readRepoFile(t, "docs/operations.md")
	example := readRepoFile(t, "docs/cordon.example.yaml")
	keys := configKeys("", reflect.TypeFor[worker.Config](), map[string]bool{"aws.accounts.NAME.rate_limit": true})
	if len(keys) < 40 {
		t.Fatalf("only %d keys found: %v", len(keys), keys)
	}
	for _, k := range keys {
		if !strings.Contains(ops, "`"+k+"`") {
			t.Errorf("docs/operations.md does not document `%s`", k)
		}
		leaf := k[strings.LastIndex(k, ".")+1:]
		if !regexp.MustCompile(`(?m)(^|[\s{#,-])` + regexp.QuoteMeta(leaf) + `:`).MatchString(example) {
			t.Errorf("docs/cordon.example.yaml has no %s (for %s), not even commented", leaf, k)
		}
	}
}

// Every CORDON_* environment variable the code reads is in
// docs/operations.md.
func TestOperationsDocumentsEveryEnvironmentVariable(t *testing.T) {
	t.Chdir(repoRoot)
	ops := readRepoFile(t, "docs/operations.md")
	re := regexp.MustCompile(`"(CORDON_[A-Z_]+)"`)
	found := map[string]bool{}
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (strings.HasPrefix(d.Name(), ".") && path != ".") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range re.FindAllStringSubmatch(string(b), -1) {
			found[m[1]] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var vars []string
	for v := range found {
		vars = append(vars, v)
	}
	sort.Strings(vars)
	if len(vars) < 6 {
		t.Fatalf("only %v found", vars)
	}
	for _, v := range vars {
		if !strings.Contains(ops, "| `"+v+"` |") {
			t.Errorf("docs/operations.md's table of environment variables lacks %s", v)
		}
	}
}

func readRepoFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, path))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
