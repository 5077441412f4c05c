package awsemu

import (
	"net/http"
	"strings"
)

// KMS over awsJson 1.1 (X-Amz-Target TrentService.<Op>): the key
// management a snapshot handover needs. The keys themselves are in
// kms_keys.go; no key material exists and nothing is encrypted.

// ServiceKMS is KMS's name in [Call.Service] (and its signing name).
const ServiceKMS = "kms"

const kmsTarget = "TrentService"

// jsonOps returns a constructor of svc's JSON-protocol operations.
func jsonOps(svc string) func(action string, mutating bool, h func(*Emulator, *request) (any, *apiError)) operation {
	return func(action string, mutating bool, h func(*Emulator, *request) (any, *apiError)) operation {
		return operation{service: svc, action: action, mutating: mutating, serve: h}
	}
}

func kmsOperations() []operation {
	op := jsonOps(ServiceKMS)
	return []operation{
		op("CreateKey", true, (*Emulator).kmsCreateKey),
		op("DescribeKey", false, (*Emulator).kmsDescribeKey),
		op("ListKeys", false, (*Emulator).kmsListKeys),
		op("CreateAlias", true, (*Emulator).kmsCreateAlias),
		op("ListAliases", false, (*Emulator).kmsListAliases),
		op("GetKeyPolicy", false, (*Emulator).kmsGetKeyPolicy),
		op("PutKeyPolicy", true, (*Emulator).kmsPutKeyPolicy),
	}
}

func kmsNotFound(format string, args ...any) *apiError {
	return clientErr(http.StatusBadRequest, "NotFoundException", format, args...)
}

// kmsKeyMetadata is KMS's KeyMetadata.
func kmsKeyMetadata(k *KMSKey) map[string]any {
	return map[string]any{
		"AWSAccountId": k.Account, "KeyId": k.KeyID, "Arn": k.ARN, "CreationDate": epochSeconds(k.CreationDate),
		"Enabled": k.KeyState == "Enabled", "Description": k.Description, "KeyUsage": "ENCRYPT_DECRYPT", "KeyState": k.KeyState,
		"Origin": "AWS_KMS", "KeyManager": k.KeyManager, "CustomerMasterKeySpec": "SYMMETRIC_DEFAULT", "KeySpec": "SYMMETRIC_DEFAULT",
		"EncryptionAlgorithms": []string{"SYMMETRIC_DEFAULT"}, "MultiRegion": false,
	}
}

// kmsKeyFor resolves the KeyId of a call and checks the caller may do
// action with the key: another account's key only where its policy says.
func (e *Emulator) kmsKeyFor(r *request, ref, action string) (*KMSKey, *apiError) {
	if ref == "" {
		return nil, errInvalid(ServiceKMS, "1 validation error detected: Value null at 'keyId' failed to satisfy constraint: Member must not be null")
	}
	k, ok := e.findKey(e.callRegion(r), ref, r.now)
	if !ok {
		if strings.HasPrefix(ref, "alias/") || strings.Contains(ref, ":alias/") {
			return nil, kmsNotFound("Alias %s is not found.", ref)
		}
		return nil, kmsNotFound("Key '%s' does not exist", ref)
	}
	if !e.keyUsable(k, r.caller, action) && !(k.KeyManager == "AWS" && k.Account == r.caller.account) {
		return nil, clientErr(http.StatusBadRequest, "AccessDeniedException",
			"User: %s is not authorized to perform: %s on resource: %s because no resource-based policy allows the %s action", r.caller.arn, action, k.ARN, action)
	}
	return k, nil
}

func (e *Emulator) kmsCreateKey(r *request) (any, *apiError) {
	var in struct {
		Description string
		Policy      string
		KeyUsage    string
		KeySpec     string
	}
	if aerr := r.decode(&in); aerr != nil {
		return nil, aerr
	}
	if in.KeyUsage != "" && in.KeyUsage != "ENCRYPT_DECRYPT" || in.KeySpec != "" && in.KeySpec != "SYMMETRIC_DEFAULT" {
		return nil, errInvalid(ServiceKMS, "awsemu models symmetric encryption keys only (KeyUsage ENCRYPT_DECRYPT, KeySpec SYMMETRIC_DEFAULT)")
	}
	if in.Policy != "" {
		if _, err := parsePolicy(in.Policy); err != nil {
			return nil, clientErr(http.StatusBadRequest, "MalformedPolicyDocumentException", "The new key policy will not allow you to update the key policy in the future.")
		}
	}
	k := e.newKey(e.callRegion(r), in.Description, "CUSTOMER", in.Policy, r.now)
	return map[string]any{"KeyMetadata": kmsKeyMetadata(k)}, nil
}

func (e *Emulator) kmsDescribeKey(r *request) (any, *apiError) {
	var in struct{ KeyId string }
	if aerr := r.decode(&in); aerr != nil {
		return nil, aerr
	}
	k, aerr := e.kmsKeyFor(r, in.KeyId, "kms:DescribeKey")
	if aerr != nil {
		return nil, aerr
	}
	return map[string]any{"KeyMetadata": kmsKeyMetadata(k)}, nil
}

func (e *Emulator) kmsListKeys(r *request) (any, *apiError) {
	var in struct {
		Limit  int
		Marker string
	}
	if aerr := r.decode(&in); aerr != nil {
		return nil, aerr
	}
	st, region := e.w.kms(), e.callRegion(r)
	var keys []map[string]string
	for _, id := range sortedKeys(st.keys) {
		if k := st.keys[id]; k.Region == region {
			keys = append(keys, map[string]string{"KeyId": k.KeyID, "KeyArn": k.ARN})
		}
	}
	lo, hi, next, aerr := pageBounds(ServiceKMS, len(keys), limitOr(in.Limit, 100), in.Marker)
	if aerr != nil {
		return nil, aerr
	}
	return map[string]any{"Keys": orEmpty(keys[lo:hi]), "Truncated": next != "", "NextMarker": next}, nil
}

func limitOr(n, def int) int {
	if n <= 0 {
		return def
	}
	return n
}

func orEmpty[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func (e *Emulator) kmsCreateAlias(r *request) (any, *apiError) {
	var in struct{ AliasName, TargetKeyId string }
	if aerr := r.decode(&in); aerr != nil {
		return nil, aerr
	}
	if !strings.HasPrefix(in.AliasName, "alias/") || strings.HasPrefix(in.AliasName, "alias/aws/") || len(in.AliasName) <= len("alias/") {
		return nil, clientErr(http.StatusBadRequest, "InvalidAliasNameException", "Alias must start with the prefix \"alias/\" and may not begin with alias/aws/: %s", in.AliasName)
	}
	k, aerr := e.kmsKeyFor(r, in.TargetKeyId, "kms:CreateAlias")
	if aerr != nil {
		return nil, aerr
	}
	if k.Account != r.caller.account {
		return nil, kmsNotFound("Key '%s' does not exist", in.TargetKeyId)
	}
	region := e.callRegion(r)
	if _, taken := e.w.kms().aliases[region+"/"+in.AliasName]; taken {
		return nil, clientErr(http.StatusBadRequest, "AlreadyExistsException", "An alias with the name arn:aws:kms:%s:%s:%s already exists", region, e.w.account, in.AliasName)
	}
	e.setAlias(k, in.AliasName)
	return map[string]any{}, nil
}

func (e *Emulator) kmsListAliases(r *request) (any, *apiError) {
	var in struct {
		KeyId  string
		Limit  int
		Marker string
	}
	if aerr := r.decode(&in); aerr != nil {
		return nil, aerr
	}
	region := e.callRegion(r)
	var only *KMSKey
	if in.KeyId != "" {
		k, aerr := e.kmsKeyFor(r, in.KeyId, "kms:ListAliases")
		if aerr != nil {
			return nil, aerr
		}
		only = k
	}
	st := e.w.kms()
	var aliases []map[string]any
	for _, slot := range sortedKeys(st.aliases) {
		reg, name, _ := strings.Cut(slot, "/")
		k := st.keys[st.aliases[slot]]
		if reg != region || k == nil || only != nil && k != only {
			continue
		}
		aliases = append(aliases, map[string]any{"AliasName": name, "AliasArn": "arn:aws:kms:" + region + ":" + e.w.account + ":" + name,
			"TargetKeyId": k.KeyID, "CreationDate": epochSeconds(k.CreationDate)})
	}
	lo, hi, next, aerr := pageBounds(ServiceKMS, len(aliases), limitOr(in.Limit, 50), in.Marker)
	if aerr != nil {
		return nil, aerr
	}
	return map[string]any{"Aliases": orEmpty(aliases[lo:hi]), "Truncated": next != "", "NextMarker": next}, nil
}

func (e *Emulator) kmsGetKeyPolicy(r *request) (any, *apiError) {
	var in struct{ KeyId, PolicyName string }
	if aerr := r.decode(&in); aerr != nil {
		return nil, aerr
	}
	k, aerr := e.kmsKeyFor(r, in.KeyId, "kms:GetKeyPolicy")
	if aerr != nil {
		return nil, aerr
	}
	return map[string]any{"Policy": k.Policy, "PolicyName": "default"}, nil
}

func (e *Emulator) kmsPutKeyPolicy(r *request) (any, *apiError) {
	var in struct{ KeyId, Policy, PolicyName string }
	if aerr := r.decode(&in); aerr != nil {
		return nil, aerr
	}
	k, aerr := e.kmsKeyFor(r, in.KeyId, "kms:PutKeyPolicy")
	if aerr != nil {
		return nil, aerr
	}
	if k.KeyManager == "AWS" || k.Account != r.caller.account {
		return nil, clientErr(http.StatusBadRequest, "AccessDeniedException", "User: %s is not authorized to perform: kms:PutKeyPolicy on resource: %s", r.caller.arn, k.ARN)
	}
	if _, err := parsePolicy(in.Policy); err != nil || in.Policy == "" {
		return nil, clientErr(http.StatusBadRequest, "MalformedPolicyDocumentException", "The key policy is not valid JSON: %v", err)
	}
	k.Policy = in.Policy
	return map[string]any{}, nil
}
