package awsemu

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// KMS keys, per account and region. Each account has, in each region, the
// AWS managed key alias/aws/ebs that EBS encrypts with by default; it is
// created the first time something needs it, as in AWS. Its key policy
// lets only its own account use it, through EC2: which is why a snapshot
// encrypted with it cannot be shared, and why it is copied to a customer
// managed key first. A customer managed key's policy (the default one
// trusts the account's root, that is its IAM policies) may name other
// accounts: they may then use the key, and nothing else may (policy.go).

// KMSKey is an emulated KMS key.
type KMSKey struct {
	KeyID        string // a UUID
	ARN          string
	Account      string
	Region       string
	Description  string
	KeyManager   string // "CUSTOMER" or "AWS"
	KeyState     string // "Enabled", "Disabled" or "PendingDeletion"
	Policy       string // the key policy JSON
	CreationDate time.Time
	Aliases      []string // "alias/..." names that point at it
}

func (k KMSKey) clone() KMSKey { k.Aliases = slices.Clone(k.Aliases); return k }

// kmsState is one account's keys. Aliases are per region, so they are
// keyed "region/alias/name".
type kmsState struct {
	keys    map[string]*KMSKey // by key id
	aliases map[string]string  // region + "/" + alias name → key id
}

func (w *world) kms() *kmsState {
	if w.kmsKeys == nil {
		w.kmsKeys = &kmsState{keys: map[string]*KMSKey{}, aliases: map[string]string{}}
	}
	return w.kmsKeys
}

// defaultKeyPolicy is the policy KMS gives a key created without one: the
// account's root, that is the account's IAM policies, may do anything.
func defaultKeyPolicy(account string) string {
	return `{"Version":"2012-10-17","Id":"key-default-1","Statement":[{"Sid":"Enable IAM User Permissions","Effect":"Allow",` +
		`"Principal":{"AWS":"arn:aws:iam::` + account + `:root"},"Action":"kms:*","Resource":"*"}]}`
}

// awsManagedEBSPolicy is (the shape of) the policy of alias/aws/ebs: any
// principal of the account, only through EC2 in the region. Its Condition
// keeps the evaluator from ever granting it to another account.
func awsManagedEBSPolicy(account, region string) string {
	return `{"Version":"2012-10-17","Id":"auto-ebs-2","Statement":[{"Sid":"Allow access through EBS for all principals in the account that are authorized to use EBS",` +
		`"Effect":"Allow","Principal":{"AWS":"*"},"Action":["kms:Encrypt","kms:Decrypt","kms:ReEncrypt*","kms:GenerateDataKey*","kms:CreateGrant","kms:DescribeKey"],` +
		`"Resource":"*","Condition":{"StringEquals":{"kms:CallerAccount":"` + account + `","kms:ViaService":"ec2.` + region + `.amazonaws.com"}}},` +
		`{"Sid":"Allow direct access to key metadata to the account","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + account + `:root"},` +
		`"Action":["kms:Describe*","kms:Get*","kms:List*","kms:RevokeGrant"],"Resource":"*"}]}`
}

// ebsDefaultAlias is the alias of the AWS managed key for EBS.
const ebsDefaultAlias = "alias/aws/ebs"

// newKey creates a key in e.w. Caller holds e.mu.
func (e *Emulator) newKey(region, description, manager, policy string, now time.Time) *KMSKey {
	id := e.newUUID()
	k := &KMSKey{
		KeyID: id, ARN: fmt.Sprintf("arn:aws:kms:%s:%s:key/%s", region, e.w.account, id), Account: e.w.account, Region: region,
		Description: description, KeyManager: manager, KeyState: "Enabled", Policy: policy, CreationDate: now,
	}
	if k.Policy == "" {
		k.Policy = defaultKeyPolicy(e.w.account)
	}
	e.w.kms().keys[id] = k
	return k
}

// setAlias points alias at key in the key's region. Caller holds e.mu.
func (e *Emulator) setAlias(k *KMSKey, alias string) {
	st := e.w.kms()
	slot := k.Region + "/" + alias
	if old, ok := st.aliases[slot]; ok {
		if prev := st.keys[old]; prev != nil {
			prev.Aliases = slices.DeleteFunc(prev.Aliases, func(a string) bool { return a == alias })
		}
	}
	st.aliases[slot] = k.KeyID
	k.Aliases = append(k.Aliases, alias)
}

// ebsDefaultKey is e.w's AWS managed EBS key in region, created on first
// use. Caller holds e.mu.
func (e *Emulator) ebsDefaultKey(region string, now time.Time) *KMSKey {
	st := e.w.kms()
	if id, ok := st.aliases[region+"/"+ebsDefaultAlias]; ok {
		return st.keys[id]
	}
	k := e.newKey(region, "Default key that protects my EBS volumes when no other key is defined", "AWS", awsManagedEBSPolicy(e.w.account, region), now)
	e.setAlias(k, ebsDefaultAlias)
	return k
}

// findKey resolves what a caller in e.w names a key by: a key id, a key
// ARN, an alias name or an alias ARN. ARNs may name another account's key;
// ids and alias names are the caller's own. The AWS managed EBS key is
// created when first named. Caller holds e.mu.
func (e *Emulator) findKey(region, ref string, now time.Time) (*KMSKey, bool) {
	w, name := e.w, ref
	if strings.HasPrefix(ref, "arn:") {
		parts := strings.SplitN(ref, ":", 6)
		if len(parts) != 6 || parts[2] != "kms" {
			return nil, false
		}
		other, ok := e.worlds[parts[4]]
		if !ok {
			return nil, false
		}
		w, region, name = other, parts[3], parts[5]
		if id, ok := strings.CutPrefix(name, "key/"); ok {
			name = id
		}
	}
	if strings.HasPrefix(name, "alias/") {
		if name == ebsDefaultAlias && w == e.w {
			return e.ebsDefaultKey(region, now), true
		}
		id, ok := w.kms().aliases[region+"/"+name]
		if !ok {
			return nil, false
		}
		name = id
	}
	k, ok := w.kms().keys[name]
	if !ok || k.Region != region {
		return nil, false
	}
	return k, true
}

// keyUsable reports whether caller may use key for actions (e.g. EBS's
// kms:Decrypt and kms:CreateGrant when it copies a snapshot): the key is
// enabled, no Emulator.Deny rule refuses an action, and the key policy
// allows them, where a policy naming the key's own account's root also
// lets that account's callers in (IAM policies are not evaluated). The AWS
// managed EBS key serves its own account only. Caller holds e.mu.
func (e *Emulator) keyUsable(k *KMSKey, caller principal, actions ...string) bool {
	if k.KeyState != "Enabled" {
		return false
	}
	for _, a := range actions {
		if e.denied(caller, a) {
			return false
		}
	}
	if k.KeyManager == "AWS" {
		return caller.account == k.Account
	}
	doc, err := parsePolicy(k.Policy)
	if err != nil {
		return false
	}
	for _, a := range actions {
		if doc.evaluate(caller, a, k.ARN) != policyAllow {
			return false
		}
	}
	return true
}

// KMSKeySpec describes a customer managed key to add.
type KMSKeySpec struct {
	Account     string // empty means the default account
	Region      string // empty means the emulator's region
	Description string
	Alias       string // e.g. "alias/cordon-evidence"; optional
	// Policy is the key policy JSON; empty gives KMS's default policy
	// (the account's root may do anything).
	Policy string
}

// AddKMSKey creates a customer managed key.
func (e *Emulator) AddKMSKey(spec KMSKeySpec) (KMSKey, error) {
	if spec.Alias != "" && (!strings.HasPrefix(spec.Alias, "alias/") || strings.HasPrefix(spec.Alias, "alias/aws/")) {
		return KMSKey{}, fmt.Errorf("awsemu: add KMS key: alias %q must start with alias/ and not alias/aws/", spec.Alias)
	}
	if spec.Policy != "" {
		if _, err := parsePolicy(spec.Policy); err != nil {
			return KMSKey{}, fmt.Errorf("awsemu: add KMS key: policy: %w", err)
		}
	}
	if spec.Region == "" {
		spec.Region = e.region
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	var out KMSKey
	err := e.inAccount(spec.Account, func() error {
		if spec.Alias != "" {
			if _, taken := e.w.kms().aliases[spec.Region+"/"+spec.Alias]; taken {
				return errors.New("awsemu: add KMS key: alias " + spec.Alias + " exists")
			}
		}
		k := e.newKey(spec.Region, spec.Description, "CUSTOMER", spec.Policy, e.clock())
		if spec.Alias != "" {
			e.setAlias(k, spec.Alias)
		}
		out = k.clone()
		return nil
	})
	return out, err
}

// KMSKeys returns copies of an account's keys in every region, by id.
func (e *Emulator) KMSKeys(account string) []KMSKey {
	s, _ := e.AccountState(account)
	return s.KMSKeys
}
