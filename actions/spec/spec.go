// Package spec holds the vocabulary shared by the action catalog and the
// runbook compiler: value types, parameters, outputs and action specs.
//
// It is a leaf package on purpose. The compiler (runbooks/) must type-check
// runbooks against the catalog without importing the AWS SDK or Temporal,
// while each action (actions/) declares its spec next to its implementation.
// Both sides import this package and nothing else of each other.
package spec

import (
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"
)

// Kind is the shape of a value in a runbook: what an input, parameter,
// output or expression holds.
type Kind string

// The kinds of value a runbook can hold.
const (
	KindString   Kind = "string"
	KindInt      Kind = "int"
	KindBool     Kind = "bool"
	KindDuration Kind = "duration"
	KindTime     Kind = "time"
	KindList     Kind = "list"
	KindMap      Kind = "map"
	KindObject   Kind = "object"
	KindAny      Kind = "any"
)

// Type is a value type. Lists and maps have an element type; objects have
// named, typed fields (in declaration order, which is also their order in
// documentation).
type Type struct {
	Kind   Kind    `json:"kind"`
	Elem   *Type   `json:"elem,omitempty"`
	Fields []Field `json:"fields,omitempty"`
}

// Field is a named, typed member of an object or an action's outputs.
type Field struct {
	Name        string `json:"name"`
	Type        Type   `json:"type"`
	Description string `json:"description,omitempty"`
}

// Convenience constructors keep catalog declarations short and readable.
var (
	String   = Type{Kind: KindString}
	Int      = Type{Kind: KindInt}
	Bool     = Type{Kind: KindBool}
	Duration = Type{Kind: KindDuration}
	Time     = Type{Kind: KindTime}
	Any      = Type{Kind: KindAny}
)

// ListOf is a list whose elements have type elem.
func ListOf(elem Type) Type { return Type{Kind: KindList, Elem: &elem} }

// MapOf is a string-keyed map whose values have type elem.
func MapOf(elem Type) Type { return Type{Kind: KindMap, Elem: &elem} }

// ObjectOf is a record with the given fields.
func ObjectOf(fields ...Field) Type { return Type{Kind: KindObject, Fields: fields} }

// F declares a field; a short name because catalogs declare many.
func F(name string, t Type, description string) Field {
	return Field{Name: name, Type: t, Description: description}
}

// String renders the type the way runbook authors write it: list<string>,
// map<string>, object{a: string, b: int}.
func (t Type) String() string {
	switch t.Kind {
	case KindList, KindMap:
		if t.Elem == nil {
			return string(t.Kind) + "<any>"
		}
		return string(t.Kind) + "<" + t.Elem.String() + ">"
	case KindObject:
		parts := make([]string, len(t.Fields))
		for i, f := range t.Fields {
			parts[i] = f.Name + ": " + f.Type.String()
		}
		return "object{" + strings.Join(parts, ", ") + "}"
	case "":
		return "any"
	default:
		return string(t.Kind)
	}
}

// Field returns the named field of an object type.
func (t Type) Field(name string) (Field, bool) {
	for _, f := range t.Fields {
		if f.Name == name {
			return f, true
		}
	}
	return Field{}, false
}

// FieldNames lists an object's field names, sorted, for "did you mean" help.
func (t Type) FieldNames() []string {
	names := make([]string, len(t.Fields))
	for i, f := range t.Fields {
		names[i] = f.Name
	}
	sort.Strings(names)
	return names
}

// GoType is the Go type that represents values of t during expression
// evaluation. Objects become generated structs whose fields carry `expr`
// tags, so that expr's checker knows every field's exact type.
func (t Type) GoType() reflect.Type {
	switch t.Kind {
	case KindString:
		return reflect.TypeFor[string]()
	case KindInt:
		return reflect.TypeFor[int]()
	case KindBool:
		return reflect.TypeFor[bool]()
	case KindDuration:
		return reflect.TypeFor[time.Duration]()
	case KindTime:
		return reflect.TypeFor[time.Time]()
	case KindList:
		return reflect.SliceOf(t.elem().GoType())
	case KindMap:
		return reflect.MapOf(reflect.TypeFor[string](), t.elem().GoType())
	case KindObject:
		return StructOf(t.Fields)
	default:
		return reflect.TypeFor[any]()
	}
}

func (t Type) elem() Type {
	if t.Elem == nil {
		return Any
	}
	return *t.Elem
}

// StructOf builds a struct type whose exported Go field names are
// placeholders and whose `expr` tags carry the runbook names. Runbook
// names are snake_case and would not be exported Go identifiers.
func StructOf(fields []Field) reflect.Type {
	sf := make([]reflect.StructField, len(fields))
	for i, f := range fields {
		sf[i] = reflect.StructField{
			Name: fmt.Sprintf("F%d", i),
			Type: f.Type.GoType(),
			Tag:  reflect.StructTag(fmt.Sprintf(`expr:%q json:%q`, f.Name, f.Name)),
		}
	}
	return reflect.StructOf(sf)
}

// Param is one typed parameter of an action, checked at compile time when
// the runbook gives a literal and at run time when it gives an expression.
type Param struct {
	Name        string   `json:"name"`
	Type        Type     `json:"type"`
	Required    bool     `json:"required,omitempty"`
	Default     any      `json:"default,omitempty"`
	Description string   `json:"description"`
	Pattern     string   `json:"pattern,omitempty"` // applies to strings and to each string in a list
	Enum        []string `json:"enum,omitempty"`
}

// Action is the catalog entry for one action: everything the compiler,
// the policy generator, the documentation and approvers need to know
// about it without running it.
type Action struct {
	Name        string  `json:"name"`
	Service     string  `json:"service"`
	Summary     string  `json:"summary"`
	Description string  `json:"description,omitempty"`
	Params      []Param `json:"params"`
	Outputs     []Field `json:"outputs"`
	// Destructive actions change production in a way that hurts service or
	// cannot be undone. The compiler requires an approval gate for them
	// unless the runbook opts out with a written justification.
	Destructive bool `json:"destructive"`
	// Mutating actions change state at all (tagging is mutating but not
	// destructive). Non-mutating actions run unchanged in a dry run.
	Mutating bool `json:"mutating"`
	// DryRun says what the action does in a rehearsal.
	DryRun string `json:"dry_run"`
	// Reverse names the action that undoes this one, when there is one.
	Reverse string `json:"reverse,omitempty"`
	// Permissions are exactly the IAM actions the implementation calls.
	Permissions []string `json:"permissions"`
	// ForensicPermissions are the IAM actions the implementation calls as
	// the forensic account's role rather than as the responder role of the
	// account the step targets: writing evidence to the store, copying a
	// handed-over snapshot into the forensic account. `cordon policy`
	// grants them to that role.
	ForensicPermissions []string `json:"forensic_permissions,omitempty"`
	// Scopes narrow Permissions in the IAM policy `cordon policy` writes:
	// the resources each one is granted on and under which condition, or
	// why it must stay on "*". A permission no scope names is granted on
	// "*" and reported as not scoped.
	Scopes []Scope `json:"scopes,omitempty"`
	// Timeout bounds one attempt unless the runbook step sets its own.
	Timeout time.Duration `json:"timeout"`
}

// Scope is how some of an action's permissions are granted in the worker's
// IAM policy. Resources are ARN patterns in the notation of the AWS Service
// Authorization Reference, with the placeholders ScopePlaceholders lists
// (the policy generator fills them in from its options: a policy needs
// literal ARNs or wildcards). Empty Resources means "*", which Unscoped
// must then explain, for the operator reading the policy.
type Scope struct {
	Permissions []string `json:"permissions"`
	Resources   []string `json:"resources,omitempty"`
	// Condition is an IAM Condition block: operator → key → values. The
	// values may use the placeholders too.
	Condition map[string]map[string][]string `json:"condition,omitempty"`
	Unscoped  string                         `json:"unscoped,omitempty"`
}

// ScopePlaceholders are the placeholders a Scope's resources and condition
// values may use, with what they stand for.
func ScopePlaceholders() map[string]string {
	return map[string]string{
		"${Partition}":    "the AWS partition (aws, aws-cn, aws-us-gov)",
		"${Account}":      "the account id, or * for any",
		"${RolePath}":     "the IAM path of the roles Cordon may contain, / for any",
		"${PassRolePath}": "the IAM path of the roles Cordon may pass to EC2 (quarantine instance profiles), / for any",
		"${UserPath}":     "the IAM path of the users Cordon may contain, / for any",
		// The evidence store, for the forensic account's role.
		"${EvidenceBucket}": "the evidence bucket (evidence.bucket), * for any",
		"${EvidencePrefix}": "the evidence store's key prefix (evidence.prefix), empty for the whole bucket",
	}
}

// ScopeOf returns the scope that names perm, if any.
func (a *Action) ScopeOf(perm string) (Scope, bool) {
	for _, s := range a.Scopes {
		if slices.Contains(s.Permissions, perm) {
			return s, true
		}
	}
	return Scope{}, false
}

func (s Scope) validate(a *Action, seen map[string]bool) error {
	if len(s.Permissions) == 0 {
		return fmt.Errorf("action %s: a scope names no permission", a.Name)
	}
	for _, p := range s.Permissions {
		if !slices.Contains(a.Permissions, p) && !slices.Contains(a.ForensicPermissions, p) {
			return fmt.Errorf("action %s: scope for %s, which is not one of its permissions", a.Name, p)
		}
		if seen[p] {
			return fmt.Errorf("action %s: %s scoped twice", a.Name, p)
		}
		seen[p] = true
	}
	switch {
	case len(s.Resources) == 0 && s.Unscoped == "":
		return fmt.Errorf("action %s: %s: a scope on \"*\" must say why (Unscoped)", a.Name, strings.Join(s.Permissions, ", "))
	case len(s.Resources) > 0 && s.Unscoped != "":
		return fmt.Errorf("action %s: %s: a scope with resources is not unscoped", a.Name, strings.Join(s.Permissions, ", "))
	}
	known := ScopePlaceholders()
	placeholder := regexp.MustCompile(`\$\{[A-Za-z]+\}`)
	check := func(v string) error {
		for _, ph := range placeholder.FindAllString(v, -1) {
			if _, ok := known[ph]; !ok {
				return fmt.Errorf("action %s: %q: unknown placeholder %s", a.Name, v, ph)
			}
		}
		return nil
	}
	for _, r := range s.Resources {
		if !strings.HasPrefix(r, "arn:${Partition}:") {
			return fmt.Errorf("action %s: resource %q must start with arn:${Partition}:", a.Name, r)
		}
		if err := check(r); err != nil {
			return err
		}
	}
	for _, keys := range s.Condition {
		for _, values := range keys {
			for _, v := range values {
				if err := check(v); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// Param returns the named parameter.
func (a *Action) Param(name string) (Param, bool) {
	for _, p := range a.Params {
		if p.Name == name {
			return p, true
		}
	}
	return Param{}, false
}

// OutputType is the object type of the action's outputs, as seen by
// expressions through steps.<id>.outputs.
func (a *Action) OutputType() Type { return ObjectOf(a.Outputs...) }

// Catalog looks actions up by name. The compiler depends on this interface
// only, so tests can compile against a small catalog of their own.
type Catalog interface {
	Lookup(name string) (*Action, bool)
	Names() []string
}

// Registry is a Catalog built from a fixed list of specs.
type Registry struct {
	byName map[string]*Action
	names  []string
}

// NewRegistry checks the specs for internal consistency (a catalog bug
// must surface in tests, not as a confusing runbook error) and indexes them.
func NewRegistry(actions ...*Action) (*Registry, error) {
	r := &Registry{byName: make(map[string]*Action, len(actions))}
	for _, a := range actions {
		if err := a.validate(); err != nil {
			return nil, err
		}
		if _, dup := r.byName[a.Name]; dup {
			return nil, fmt.Errorf("action %s declared twice", a.Name)
		}
		r.byName[a.Name] = a
		r.names = append(r.names, a.Name)
	}
	sort.Strings(r.names)
	return r, nil
}

// Lookup implements Catalog.
func (r *Registry) Lookup(name string) (*Action, bool) {
	a, ok := r.byName[name]
	return a, ok
}

// Names implements Catalog; the names are sorted.
func (r *Registry) Names() []string { return append([]string(nil), r.names...) }

// Actions returns the specs in name order.
func (r *Registry) Actions() []*Action {
	out := make([]*Action, len(r.names))
	for i, n := range r.names {
		out[i] = r.byName[n]
	}
	return out
}

// permissionName is the form of an IAM action: service prefix, colon,
// operation name.
var permissionName = regexp.MustCompile(`^[a-z0-9-]+:[A-Z][A-Za-z0-9]+$`)

func (a *Action) validate() error {
	if a.Name == "" || a.Summary == "" {
		return fmt.Errorf("action %q: name and summary are required", a.Name)
	}
	if a.Destructive && !a.Mutating {
		return fmt.Errorf("action %s: destructive implies mutating", a.Name)
	}
	if a.DryRun == "" {
		return fmt.Errorf("action %s: say what a dry run does", a.Name)
	}
	for _, perms := range [][]string{a.Permissions, a.ForensicPermissions} {
		seen := map[string]bool{}
		for _, p := range perms {
			if !permissionName.MatchString(p) || seen[p] {
				return fmt.Errorf("action %s: permission %q is not an IAM action name (service:Action), or is listed twice", a.Name, p)
			}
			seen[p] = true
		}
	}
	scoped := map[string]bool{}
	for _, s := range a.Scopes {
		if err := s.validate(a, scoped); err != nil {
			return err
		}
	}
	seen := map[string]bool{}
	for _, p := range a.Params {
		if seen[p.Name] {
			return fmt.Errorf("action %s: param %s declared twice", a.Name, p.Name)
		}
		seen[p.Name] = true
		if p.Description == "" {
			return fmt.Errorf("action %s: param %s has no description", a.Name, p.Name)
		}
		if p.Pattern != "" {
			if _, err := regexp.Compile(p.Pattern); err != nil {
				return fmt.Errorf("action %s: param %s: pattern: %w", a.Name, p.Name, err)
			}
		}
	}
	return nil
}

// IsReadOnly says whether an AWS operation ("DescribeInstances") or an IAM
// action ("ec2:DescribeInstances") only reads: AWS names every read
// Describe*, Get* or List*. The rate limiter paces reads and writes from
// different buckets by it; the IAM policy groups permissions by it.
func IsReadOnly(operationOrPermission string) bool {
	_, op, found := strings.Cut(operationOrPermission, ":")
	if !found {
		op = operationOrPermission
	}
	for _, p := range []string{"Describe", "Get", "List"} {
		if strings.HasPrefix(op, p) {
			return true
		}
	}
	return false
}
