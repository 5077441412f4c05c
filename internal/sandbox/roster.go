package sandbox

import (
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"slices"
	"strings"

	"golang.org/x/crypto/ssh"

	"github.com/cordon-ir/cordon/worker"
)

// Member is one person of a sandbox roster.
type Member struct {
	ID, Name, SlackID string
	// Roles are workflows.RoleResponder and workflows.RoleLead.
	Roles, Groups []string
	// NoKey gives the member no key: they sign nothing themselves, and act
	// only through a gateway that speaks for them (a Slack user).
	NoKey bool
}

// Roster is a production roster (signatures required) whose keys exist
// only for one sandbox: each member and gateway gets a fresh ed25519 key,
// so every start, decision and control is signed and verified exactly as
// in production while nobody's real key is used.
type Roster struct {
	config worker.RosterConfig
	keys   map[string]ssh.Signer // by member id or gateway name
}

// NewRoster generates a key for every member (but those with NoKey) and
// for every gateway named, and returns the roster that lists their public
// keys. Member ids and gateway names share one namespace.
func NewRoster(members []Member, gateways ...string) (*Roster, error) {
	r := &Roster{keys: map[string]ssh.Signer{}}
	taken := func(id string) error {
		if _, dup := r.keys[id]; dup || slices.ContainsFunc(r.config.Members, func(m worker.MemberConfig) bool { return m.ID == id }) {
			return fmt.Errorf("sandbox roster: %q appears twice among the members and gateways", id)
		}
		return nil
	}
	for _, m := range members {
		if err := taken(m.ID); err != nil {
			return nil, err
		}
		mc := worker.MemberConfig{ID: m.ID, Name: m.Name, SlackID: m.SlackID, Roles: slices.Clone(m.Roles), Groups: slices.Clone(m.Groups)}
		if !m.NoKey {
			signer, pub, err := newKey(m.ID)
			if err != nil {
				return nil, err
			}
			r.keys[m.ID] = signer
			mc.PublicKeys = []string{pub}
		}
		r.config.Members = append(r.config.Members, mc)
	}
	for _, name := range gateways {
		if err := taken(name); err != nil {
			return nil, err
		}
		signer, pub, err := newKey("gateway " + name)
		if err != nil {
			return nil, err
		}
		r.keys[name] = signer
		r.config.Gateways = append(r.config.Gateways, worker.GatewayConfig{Name: name, PublicKey: pub})
	}
	return r, nil
}

// Config is the roster as a worker's configuration holds it (a copy).
func (r *Roster) Config() worker.RosterConfig {
	c := r.config
	c.Members = slices.Clone(c.Members)
	for i := range c.Members {
		c.Members[i].PublicKeys = slices.Clone(c.Members[i].PublicKeys)
	}
	c.Gateways = slices.Clone(c.Gateways)
	return c
}

// Signer is the key of a member or gateway, or nil for one with no key.
func (r *Roster) Signer(id string) ssh.Signer { return r.keys[id] }

// Fingerprint is the SHA256 fingerprint of a member's or gateway's key
// (as `cordon` and the report show it), or "" for one with no key.
func (r *Roster) Fingerprint(id string) string {
	s := r.keys[id]
	if s == nil {
		return ""
	}
	return ssh.FingerprintSHA256(s.PublicKey())
}

// newKey makes a fresh ed25519 key for who and returns its signer and its
// public key as an authorized_keys line (the roster's form).
func newKey(who string) (ssh.Signer, string, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, "", fmt.Errorf("generate the key of %s: %w", who, err)
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		return nil, "", fmt.Errorf("key of %s: %w", who, err)
	}
	return signer, strings.TrimSpace(string(ssh.MarshalAuthorizedKey(signer.PublicKey()))), nil
}
