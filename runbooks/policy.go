package runbooks

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
	"unicode"

	"github.com/cordon-ir/cordon/actions/spec"
)

// IAMPolicy is an IAM policy document.
type IAMPolicy struct {
	Version   string         `json:"Version"`
	Statement []IAMStatement `json:"Statement"`
}

// IAMStatement is one statement of an IAM policy.
type IAMStatement struct {
	Sid       string                        `json:"Sid"`
	Effect    string                        `json:"Effect"`
	Action    []string                      `json:"Action"`
	Resource  Strings                       `json:"Resource"`
	Condition map[string]map[string]Strings `json:"Condition,omitempty"`
}

// Strings is a policy element that IAM takes as one string or a list: it
// is written as a string when it holds one value, as a list otherwise, and
// read from either.
type Strings []string

// MarshalJSON implements json.Marshaler.
func (s Strings) MarshalJSON() ([]byte, error) {
	if len(s) == 1 {
		return json.Marshal(s[0])
	}
	return json.Marshal([]string(s))
}

// UnmarshalJSON implements json.Unmarshaler.
func (s *Strings) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*s = Strings{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return err
	}
	*s = many
	return nil
}

// PolicyOptions fill in the placeholders of the catalog's resource
// patterns (spec.ScopePlaceholders). A policy needs literal ARNs or
// wildcards, so the defaults are wildcards: the policy is usable as it is,
// and each option only narrows it.
type PolicyOptions struct {
	// Partition is aws, aws-cn, aws-us-gov...; default aws.
	Partition string
	// AccountID is the 12-digit account the worker role acts in; default *.
	AccountID string
	// RolePath is the IAM path of the roles Cordon may contain (read, lock,
	// deny); default / (any role).
	RolePath string
	// PassRolePath is the IAM path of the roles Cordon may pass to EC2 as
	// a quarantine instance profile's role; default / (any role).
	PassRolePath string
	// UserPath is the IAM path of the users Cordon may contain; default /.
	UserPath string
	// ForensicAccountID is the 12-digit forensic account (evidence.account's
	// id): the account of the forensic role's policy and the principal the
	// handover key's policy names; default * in the forensic role's ARNs.
	ForensicAccountID string
	// EvidenceBucket and EvidencePrefix are the evidence store
	// (evidence.bucket and evidence.prefix); default any bucket, the whole
	// bucket.
	EvidenceBucket string
	EvidencePrefix string
	// ForensicProfileRole is the role of the forensic instance profile
	// (aws.iam.replace_instance_profile's instance_profile), at
	// PassRolePath; default cordon-forensic.
	ForensicProfileRole string
}

func (o PolicyOptions) withDefaults() PolicyOptions {
	def := func(v *string, d string) {
		if *v == "" {
			*v = d
		}
	}
	def(&o.Partition, "aws")
	def(&o.AccountID, "*")
	def(&o.RolePath, "/")
	def(&o.PassRolePath, "/")
	def(&o.UserPath, "/")
	def(&o.ForensicAccountID, "*")
	def(&o.EvidenceBucket, "*")
	def(&o.ForensicProfileRole, "cordon-forensic")
	if o.EvidencePrefix != "" && !strings.HasSuffix(o.EvidencePrefix, "/") {
		o.EvidencePrefix += "/" // as evidence.prefix is read
	}
	return o
}

// Validate reports options that would make a policy IAM rejects, or one
// that grants more than it says (a wildcard inside a path).
func (o PolicyOptions) Validate() error {
	o = o.withDefaults()
	if !regexp.MustCompile(`^aws(-[a-z]+)*$`).MatchString(o.Partition) {
		return fmt.Errorf("partition %q is not an AWS partition (aws, aws-cn, aws-us-gov)", o.Partition)
	}
	for name, id := range map[string]string{"account id": o.AccountID, "forensic account id": o.ForensicAccountID} {
		if id != "*" && !regexp.MustCompile(`^\d{12}$`).MatchString(id) {
			return fmt.Errorf("%s %q is not 12 digits", name, id)
		}
	}
	if o.EvidenceBucket != "*" && !regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`).MatchString(o.EvidenceBucket) {
		return fmt.Errorf("evidence bucket %q is not an S3 bucket name", o.EvidenceBucket)
	}
	if strings.ContainsAny(o.EvidencePrefix, "*?") || strings.HasPrefix(o.EvidencePrefix, "/") {
		return fmt.Errorf("evidence prefix %q: no wildcard and no leading slash (e.g. cases/)", o.EvidencePrefix)
	}
	if !regexp.MustCompile(`^[\w+=,.@-]{1,64}$`).MatchString(o.ForensicProfileRole) {
		return fmt.Errorf("forensic profile role %q is not an IAM role name", o.ForensicProfileRole)
	}
	// IAM's path syntax, without the wildcards * and ? that would widen
	// the ARN the path is written into.
	path := regexp.MustCompile(`^/([\x21-\x29\x2b-\x3e\x40-\x7e]+/)?$`)
	for name, p := range map[string]string{"role path": o.RolePath, "pass-role path": o.PassRolePath, "user path": o.UserPath} {
		if !path.MatchString(p) {
			return fmt.Errorf("%s %q is not an IAM path: it starts and ends with / (e.g. /cordon-contained/) and has no * or ?", name, p)
		}
	}
	return nil
}

func (o PolicyOptions) replacer() *strings.Replacer {
	return strings.NewReplacer(
		"${Partition}", o.Partition, "${Account}", o.AccountID,
		"${RolePath}", o.RolePath, "${PassRolePath}", o.PassRolePath, "${UserPath}", o.UserPath,
		"${EvidenceBucket}", o.EvidenceBucket, "${EvidencePrefix}", o.EvidencePrefix,
	)
}

// Unscoped is a permission the policy grants on Resource "*", and why.
type Unscoped struct {
	Permission string `json:"permission"`
	Reason     string `json:"reason"`
}

// Permissions returns every IAM action the plan's steps (and their child
// runbooks) may call, sorted and without duplicates.
func (p *Plan) Permissions() []string {
	set := map[string]bool{}
	p.collectPermissions(set)
	return sortedKeys(set)
}

func (p *Plan) collectPermissions(set map[string]bool) {
	for _, s := range p.Steps {
		for _, perm := range s.Permissions {
			set[perm] = true
		}
	}
	for _, c := range p.Children {
		c.collectPermissions(set)
	}
}

// grant is one permission on some resources under a condition, as the
// policy will state it.
type grant struct {
	resources []string // sorted; ["*"] when unscoped
	condition map[string]map[string][]string
	unscoped  string
}

func (g grant) key() string {
	b, _ := json.Marshal([]any{g.resources, g.condition}) // maps marshal with sorted keys
	return string(b)
}

// covers says whether g alone allows at least what h allows: g has no
// condition and its resources include h's.
func (g grant) covers(h grant) bool {
	if len(g.condition) > 0 {
		return false
	}
	if slices.Equal(g.resources, []string{"*"}) {
		return true
	}
	for _, r := range h.resources {
		if !slices.Contains(g.resources, r) {
			return false
		}
	}
	return true
}

// rolePermissions are the permissions a step needs of one role: the
// responder role of the account it targets (forensic false), or the
// forensic account's role.
func rolePermissions(s Step, a *spec.Action, forensic bool) []string {
	if !forensic {
		return s.Permissions
	}
	if a == nil {
		return nil
	}
	return a.ForensicPermissions
}

func (p *Plan) collectGrants(cat spec.Catalog, rep *strings.Replacer, forensic bool, grants map[string]map[string]grant) {
	for _, s := range p.Steps {
		a, _ := cat.Lookup(s.Action)
		for _, perm := range rolePermissions(s, a, forensic) {
			g := grant{resources: []string{"*"}, unscoped: "not scoped in the action catalog"}
			if a != nil {
				if sc, ok := a.ScopeOf(perm); ok {
					if len(sc.Resources) > 0 {
						g = grant{condition: map[string]map[string][]string{}}
						for _, r := range sc.Resources {
							g.resources = append(g.resources, rep.Replace(r))
						}
						sort.Strings(g.resources)
						g.resources = slices.Compact(g.resources)
						for op, keys := range sc.Condition {
							g.condition[op] = map[string][]string{}
							for k, values := range keys {
								for _, v := range values {
									g.condition[op][k] = append(g.condition[op][k], rep.Replace(v))
								}
							}
						}
						if len(g.condition) == 0 {
							g.condition = nil
						}
					} else {
						g.unscoped = sc.Unscoped
					}
				}
			}
			if grants[perm] == nil {
				grants[perm] = map[string]grant{}
			}
			if _, dup := grants[perm][g.key()]; !dup {
				grants[perm][g.key()] = g
			}
		}
	}
	for _, name := range sortedKeys(p.Children) {
		p.Children[name].collectGrants(cat, rep, forensic, grants)
	}
}

// LeastPrivilegePolicy is the IAM policy a worker's role needs to run the
// given plans, and nothing more. Each permission is granted on the
// resources its action's scope names (the catalog's spec.Scope, with opts
// filled in), under its condition; statements group the permissions that
// share resources and condition, read calls apart from changing calls so a
// reviewer sees at once what can modify the account. What must stay on
// Resource "*" is returned too, with why, for the operator to see.
func LeastPrivilegePolicy(cat spec.Catalog, opts PolicyOptions, plans ...*Plan) (IAMPolicy, []Unscoped) {
	return rolePolicy(cat, opts.withDefaults(), false, plans)
}

// rolePolicy is the policy of the responder role (forensic false) or of
// the forensic account's role, for the plans.
func rolePolicy(cat spec.Catalog, opts PolicyOptions, forensic bool, plans []*Plan) (IAMPolicy, []Unscoped) {
	rep := opts.replacer()
	grants := map[string]map[string]grant{}
	for _, p := range plans {
		p.collectGrants(cat, rep, forensic, grants)
		if !forensic {
			p.collectSourceReads(rep, grants)
		}
	}

	type group struct {
		read  bool
		grant grant
		perms []string
	}
	groups := map[string]*group{}
	var unscoped []Unscoped
	for _, perm := range sortedKeys(grants) {
		// Two steps may grant one permission differently (one action
		// conditions it, another cannot): IAM allows the union, so a grant
		// another one covers is left out.
		var kept []grant
		for _, k := range sortedKeys(grants[perm]) {
			g := grants[perm][k]
			covered := false
			for k2, h := range grants[perm] {
				if k2 != k && h.covers(g) && !(g.covers(h) && k2 > k) {
					covered = true
					break
				}
			}
			if !covered {
				kept = append(kept, g)
			}
		}
		for _, g := range kept {
			if slices.Equal(g.resources, []string{"*"}) && len(g.condition) == 0 {
				unscoped = append(unscoped, Unscoped{Permission: perm, Reason: g.unscoped})
			}
			read := isReadOnly(perm)
			key := fmt.Sprint(read) + g.key()
			if groups[key] == nil {
				groups[key] = &group{read: read, grant: g}
			}
			groups[key].perms = append(groups[key].perms, perm)
		}
	}

	doc := IAMPolicy{Version: "2012-10-17"}
	sids := map[string]int{}
	for _, key := range sortedKeys(groups) {
		g := groups[key]
		st := IAMStatement{Effect: "Allow", Action: g.perms, Resource: Strings(g.grant.resources)}
		if len(g.grant.condition) > 0 {
			st.Condition = map[string]map[string]Strings{}
			for op, keys := range g.grant.condition {
				st.Condition[op] = map[string]Strings{}
				for k, v := range keys {
					st.Condition[op][k] = Strings(v)
				}
			}
		}
		st.Sid = statementID(g.read, g.grant)
		sids[st.Sid]++
		if n := sids[st.Sid]; n > 1 {
			st.Sid += fmt.Sprint(n)
		}
		doc.Statement = append(doc.Statement, st)
	}
	sort.SliceStable(doc.Statement, func(i, j int) bool { return doc.Statement[i].Sid < doc.Statement[j].Sid })
	return doc, unscoped
}

// statementID names a statement after what it allows: CordonEvidence
// (reads) or CordonContainment (changes), then the resource types it is
// scoped to and the condition keys it depends on, e.g.
// CordonContainmentInstance, CordonContainmentRoleIfPassedToService.
// Unscoped statements keep the bare name.
func statementID(read bool, g grant) string {
	id := "CordonContainment"
	if read {
		id = "CordonEvidence"
	}
	if slices.Equal(g.resources, []string{"*"}) {
		return id + sidWords(conditionKeys(g.condition), "If")
	}
	var types []string
	for _, r := range g.resources {
		// arn:partition:service:region:account:type/...
		parts := strings.SplitN(r, ":", 6)
		if len(parts) == 6 {
			t, _, _ := strings.Cut(parts[5], "/")
			types = append(types, t)
		}
	}
	return id + sidWords(types, "") + sidWords(conditionKeys(g.condition), "If")
}

func conditionKeys(c map[string]map[string][]string) []string {
	var keys []string
	for _, op := range sortedKeys(c) {
		for _, k := range sortedKeys(c[op]) {
			_, name, _ := strings.Cut(k, ":")
			keys = append(keys, name)
		}
	}
	return keys
}

// sidWords turns names like network-interface into NetworkInterface: a Sid
// is letters and digits only.
func sidWords(words []string, prefix string) string {
	if len(words) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString(prefix)
	for _, w := range words {
		up := true
		for _, r := range w {
			switch {
			case unicode.IsLetter(r) || unicode.IsDigit(r):
				if up {
					r = unicode.ToUpper(r)
				}
				b.WriteRune(r)
				up = false
			default:
				up = true
			}
		}
	}
	return b.String()
}

func isReadOnly(perm string) bool { return spec.IsReadOnly(perm) }

// JSON renders the policy as indented JSON.
func (p IAMPolicy) JSON() []byte {
	b, _ := json.MarshalIndent(p, "", "  ") // only strings: cannot fail
	return b
}
