package awsemu

import (
	"net/url"
	"sort"
	"strconv"
	"strings"
)

// maxListIndex bounds list indices so a hostile "X.999999999999" parameter
// cannot make the emulator allocate or loop by index.
const maxListIndex = 100000

// params is a view of a form-encoded query request below a prefix, so the
// same accessors read top-level fields ("InstanceId") and nested ones
// ("Filter.2.Value.1") alike.
type params struct {
	v      url.Values
	prefix string
}

func (p params) get(name string) string {
	vs := p.v[p.prefix+name]
	if len(vs) == 0 {
		return ""
	}
	return vs[0]
}

func (p params) has(name string) bool {
	_, ok := p.v[p.prefix+name]
	return ok
}

// boolean reads an AWS boolean; absent or unparseable values are false, the
// way the services treat them for the flags the emulator supports.
func (p params) boolean(name string) bool {
	b, err := strconv.ParseBool(p.get(name))
	return err == nil && b
}

// integer reads an optional integer; ok is false when absent.
func (p params) integer(name string) (int, bool, *apiError) {
	if !p.has(name) {
		return 0, false, nil
	}
	n, err := strconv.Atoi(p.get(name))
	if err != nil {
		return 0, true, errInvalidParameter("Value (%q) for parameter %s is invalid. Expected an integer.", p.get(name), name)
	}
	return n, true, nil
}

// indices returns the sorted distinct N of keys "<prefix><name>.N<rest>"
// where rest must satisfy accept. Lists are read by scanning keys rather than
// counting up from 1, so gaps and huge indices are harmless.
func (p params) indices(name string, accept func(rest string) bool) []int {
	head := p.prefix + name + "."
	seen := map[int]bool{}
	for k := range p.v {
		if !strings.HasPrefix(k, head) {
			continue
		}
		tail := k[len(head):]
		digits, rest, _ := strings.Cut(tail, ".")
		if rest != "" {
			rest = "." + rest
		}
		if !accept(rest) {
			continue
		}
		n, err := strconv.Atoi(digits)
		if err != nil || n < 1 || n > maxListIndex || strconv.Itoa(n) != digits {
			continue
		}
		seen[n] = true
	}
	out := make([]int, 0, len(seen))
	for n := range seen {
		out = append(out, n)
	}
	sort.Ints(out)
	return out
}

// list reads a list of scalars: name.1, name.2, … in index order.
func (p params) list(name string) []string {
	idx := p.indices(name, func(rest string) bool { return rest == "" })
	out := make([]string, 0, len(idx))
	for _, n := range idx {
		out = append(out, p.get(name+"."+strconv.Itoa(n)))
	}
	return out
}

// structs reads a list of structures: name.N.Field, returning one view per N.
func (p params) structs(name string) []params {
	idx := p.indices(name, func(rest string) bool { return rest != "" })
	out := make([]params, 0, len(idx))
	for _, n := range idx {
		out = append(out, params{v: p.v, prefix: p.prefix + name + "." + strconv.Itoa(n) + "."})
	}
	return out
}

// sub views a nested structure: name.Field.
func (p params) sub(name string) params {
	return params{v: p.v, prefix: p.prefix + name + "."}
}

// filter is one EC2 Filter.N entry.
type filter struct {
	name   string
	values []string
}

func (p params) filters() []filter {
	var out []filter
	for _, f := range p.structs("Filter") {
		out = append(out, filter{name: f.get("Name"), values: f.list("Value")})
	}
	return out
}

// tagSpecs reads TagSpecification.N for the given resource type; entries
// with no ResourceType apply to everything, which is lenient but harmless.
func (p params) tagSpecs(resourceType string) map[string]string {
	tags := map[string]string{}
	for _, ts := range p.structs("TagSpecification") {
		if rt := ts.get("ResourceType"); rt != "" && rt != resourceType {
			continue
		}
		for _, t := range ts.structs("Tag") {
			tags[t.get("Key")] = t.get("Value")
		}
	}
	return tags
}

// globMatch implements the EC2 filter wildcards: * (any run) and ? (one rune).
func globMatch(pattern, s string) bool {
	p, t := []rune(pattern), []rune(s)
	pi, ti := 0, 0
	star, mark := -1, 0
	for ti < len(t) {
		switch {
		case pi < len(p) && (p[pi] == '?' || p[pi] == t[ti]):
			pi++
			ti++
		case pi < len(p) && p[pi] == '*':
			star, mark = pi, ti
			pi++
		case star >= 0:
			pi = star + 1
			mark++
			ti = mark
		default:
			return false
		}
	}
	for pi < len(p) && p[pi] == '*' {
		pi++
	}
	return pi == len(p)
}

// rfc3986Escape percent-encodes everything except unreserved characters, the
// encoding IAM uses for policy documents; both url.QueryUnescape and
// url.PathUnescape invert it.
func rfc3986Escape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' || c == '~' {
			b.WriteByte(c)
			continue
		}
		b.WriteString("%" + strings.ToUpper(strconv.FormatInt(int64(c)|0x100, 16)[1:]))
	}
	return b.String()
}
