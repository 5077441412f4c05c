package awsemu

import (
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"time"
)

// Accounts. The emulator holds one world per AWS account. Every access key
// belongs to one account: a seeded user's key to the user's account, an
// AssumeRole session to the account of the role it assumed, any other key
// to the default account (Options.AccountID). A request is served in the
// caller's account: handlers see that account's world as e.w, so a caller
// of the forensic account lists the forensic account's snapshots, keys and
// roles, and never the default account's, as in AWS. The few things one
// account may reach in another are the ones AWS allows across accounts and
// the emulator models: assuming a role whose trust policy names the caller,
// snapshots shared through createVolumePermission, KMS keys whose key
// policy names the account, S3 buckets (one namespace for all accounts,
// each bucket owned by one), and the AWS-wide call log that CloudTrail
// reads per account.

// accountIDPattern is the form of an AWS account id.
var accountIDPattern = regexp.MustCompile(`^[0-9]{12}$`)

// AddAccount makes another AWS account exist in the emulator, with nothing
// in it. Seed it through the specs that take an Account (RoleSpec,
// UserSpec, ...) and call it through the credentials of one of its users or
// of a session of one of its roles. Adding an account twice is harmless.
func (e *Emulator) AddAccount(id string) error {
	if !accountIDPattern.MatchString(id) {
		return fmt.Errorf("awsemu: add account: %q is not a 12-digit AWS account id", id)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.worldOf(id)
	return nil
}

// Accounts lists the emulated accounts, the default one first.
func (e *Emulator) Accounts() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := []string{e.account}
	for _, id := range sortedKeys(e.worlds) {
		if id != e.account {
			out = append(out, id)
		}
	}
	return out
}

// worldOf returns account's world, creating it when the account is new.
// Caller holds e.mu.
func (e *Emulator) worldOf(account string) *world {
	if w, ok := e.worlds[account]; ok {
		return w
	}
	w := newWorld(account)
	e.worlds[account] = w
	return w
}

// inAccount runs f with account's world as e.w (an empty account means the
// default one) and restores the previous world afterwards. Caller holds
// e.mu; seed calls use it to create resources in another account.
func (e *Emulator) inAccount(account string, f func() error) error {
	if account == "" {
		account = e.account
	}
	if !accountIDPattern.MatchString(account) {
		return fmt.Errorf("awsemu: %q is not a 12-digit AWS account id", account)
	}
	prev := e.w
	e.w = e.worldOf(account)
	defer func() { e.w = prev }()
	return f()
}

// serveIn makes account's world the one handlers see until the returned
// function restores the default account's. Caller holds e.mu.
func (e *Emulator) serveIn(account string) (restore func()) {
	e.w = e.worldOf(account)
	return func() { e.w = e.worlds[e.account] }
}

// unlockWhile releases e.mu while wait runs, for a handler that sleeps
// (an SQS long poll). e.w is the served account's world only while the
// lock is held: others meanwhile see the default account's, and the
// handler gets its own back. Caller holds e.mu.
func (e *Emulator) unlockWhile(wait func()) {
	served := e.w
	e.w = e.worlds[e.account]
	e.mu.Unlock()
	defer func() {
		e.mu.Lock()
		e.w = served
	}()
	wait()
}

// resolvePrincipal maps an access key to an identity and its account: an
// AssumeRole session, a seeded user's key, or the default account's
// default user for any other key. Worlds are searched in account order so
// that the answer never depends on map iteration.
func (e *Emulator) resolvePrincipal(svc, akid string, now time.Time) (principal, *apiError) {
	for _, account := range sortedKeys(e.worlds) {
		w := e.worlds[account]
		if s, ok := w.sessions[akid]; ok {
			if now.After(s.expiration) {
				return principal{}, clientErr(http.StatusBadRequest, "ExpiredToken", "The security token included in the request is expired")
			}
			roleName := s.roleARN[strings.LastIndex(s.roleARN, "/")+1:]
			return principal{
				accessKeyID: akid,
				account:     account,
				arn:         fmt.Sprintf("arn:aws:sts::%s:assumed-role/%s/%s", account, roleName, s.sessionName),
				userID:      s.roleID + ":" + s.sessionName,
				roleARN:     s.roleARN,
				sessionName: s.sessionName,
			}, nil
		}
		for _, u := range w.users {
			for i := range u.AccessKeys {
				k := &u.AccessKeys[i]
				if k.ID != akid {
					continue
				}
				if k.Status != "Active" {
					if svc == ServiceEC2 {
						return principal{}, clientErr(http.StatusUnauthorized, "AuthFailure", "AWS was not able to validate the provided access credentials")
					}
					return principal{}, clientErr(http.StatusForbidden, "InvalidClientTokenId", "The security token included in the request is invalid.")
				}
				k.LastUsedDate, k.LastUsedService, k.LastUsedRegion = now, iamPrefix(svc), e.region
				return principal{accessKeyID: akid, account: account, arn: u.ARN, userID: u.ID, userName: u.Name}, nil
			}
		}
	}
	return principal{
		accessKeyID: akid,
		account:     e.account,
		arn:         fmt.Sprintf("arn:aws:iam::%s:user/%s", e.account, e.defaultUser),
		userID:      "AIDACORDONEMULATOR00",
		userName:    e.defaultUser,
	}, nil
}

// accountOfARN is the account field of an ARN, "" when there is none.
func accountOfARN(arn string) string {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) < 6 {
		return ""
	}
	return parts[4]
}
