package awsemu

import "strings"

// stsKeyOperations are the STS operations about access keys (see
// iamOperations).
func stsKeyOperations() []operation {
	return []operation{
		{service: ServiceSTS, action: "GetAccessKeyInfo", handle: (*Emulator).getAccessKeyInfo},
	}
}

// getAccessKeyInfo returns the account of any well-formed key id, as STS
// does: it decodes the account from the id and says nothing of the key's
// state or owner. Keys the emulator did not issue belong to its account
// too, so a made-up key is found by the IAM calls that follow, not here.
func (e *Emulator) getAccessKeyInfo(r *request) ([]node, *apiError) {
	id, err := required(r, "AccessKeyId")
	if err != nil {
		return nil, err
	}
	if len(id) < 16 || len(id) > 128 || strings.ContainsFunc(id, func(c rune) bool {
		return !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9')
	}) {
		return nil, errValidation("1 validation error detected: Value '%s' at 'accessKeyId' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w]*", id)
	}
	return []node{leaf("Account", e.accountOfKey(id))}, nil
}

// accountOfKey is the account an access key belongs to: that of the user
// or role session it was issued to, else the default account.
func (e *Emulator) accountOfKey(id string) string {
	for _, account := range sortedKeys(e.worlds) {
		w := e.worlds[account]
		if _, ok := w.sessions[id]; ok {
			return account
		}
		for _, u := range w.users {
			for _, k := range u.AccessKeys {
				if k.ID == id {
					return account
				}
			}
		}
	}
	return e.account
}
