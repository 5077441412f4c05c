package awsemu

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// SSM Run Command over awsJson 1.1 (X-Amz-Target AmazonSSM.<Op>). Only
// instances registered as managed (SetSSMManaged) have an agent. The
// emulator cannot run a command, so a programmable agent answers for the
// instance: SetSSMResponder says what a command produces (output, exit
// code, how long it runs, a timeout, and the objects it uploads to S3);
// without one, DefaultSSMResponder echoes shell commands and fakes a
// memory acquisition. An invocation runs from SendCommand until the
// emulator clock passes its Delay, then ends Success (exit code 0),
// Failed or TimedOut; on success its objects, and its stdout and stderr
// when the command named an output bucket, are written to S3 as the
// instance's role, which the bucket's owner and policy must allow.

// ServiceSSM is SSM's name in [Call.Service] (and its signing name).
const ServiceSSM = "ssm"

const ssmTarget = "AmazonSSM"

func ssmOperations() []operation {
	op := jsonOps(ServiceSSM)
	return []operation{
		op("DescribeInstanceInformation", false, (*Emulator).ssmDescribeInstanceInformation),
		op("SendCommand", true, (*Emulator).ssmSendCommand),
		op("ListCommandInvocations", false, (*Emulator).ssmListCommandInvocations),
		op("GetCommandInvocation", false, (*Emulator).ssmGetCommandInvocation),
	}
}

// SSMInvocation is one command on one instance, as the agent gets it.
type SSMInvocation struct {
	Account      string
	Region       string
	CommandID    string
	InstanceID   string
	DocumentName string
	// Parameters are the document's parameters, e.g. "commands" for
	// AWS-RunShellScript.
	Parameters        map[string][]string
	OutputS3Bucket    string
	OutputS3KeyPrefix string
	RequestedAt       time.Time
}

// SSMResult is what a command does on an instance.
type SSMResult struct {
	Stdout   string
	Stderr   string
	ExitCode int // non-zero: the invocation fails
	// Delay is how long (on the emulator's clock) the command runs; the
	// invocation is InProgress until then.
	Delay time.Duration
	// TimedOut makes the command exceed its execution timeout: it ends
	// TimedOut once the timeout (the document's executionTimeout, default
	// 3600 s) has passed, or at Delay when Delay is shorter.
	TimedOut bool
	// Objects are what the command uploads to S3 when it succeeds.
	Objects []SSMObject
}

// SSMObject is an object a command uploads: s3://Bucket/Key.
type SSMObject struct {
	Bucket string
	Key    string
	Body   []byte `json:"-"` // read it from S3 (Emulator.S3Object)
}

// SSMResponder is the emulated agent: what a command produces. It runs
// with the emulator's lock held and must not call the Emulator.
type SSMResponder func(SSMInvocation) SSMResult

// SetSSMResponder replaces the agent of every managed instance; nil
// restores DefaultSSMResponder.
func (e *Emulator) SetSSMResponder(f SSMResponder) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.ssmResponder = f
}

// DefaultMemoryImageBytes is the size of DefaultSSMResponder's memory image.
const DefaultMemoryImageBytes = 256 << 10

// memoryToolPattern recognises a memory acquisition in a document name or
// a shell command.
var memoryToolPattern = regexp.MustCompile(`(?i)memory|\bavml\b|\blime\b|insmod`)

// s3URLPattern finds an s3://bucket/key destination in a command.
var s3URLPattern = regexp.MustCompile(`s3://([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])/([^\s"']+)`)

// DefaultSSMResponder is the agent the emulator uses unless told
// otherwise. A memory acquisition (a document whose name says Memory, or
// a command running avml, lime or insmod) succeeds with
// MemoryAcquisition(inv, DefaultMemoryImageBytes). Any other command
// succeeds and echoes its "commands" parameter.
func DefaultSSMResponder(inv SSMInvocation) SSMResult {
	if memoryToolPattern.MatchString(inv.DocumentName) || slices.ContainsFunc(inv.Parameters["commands"], memoryToolPattern.MatchString) {
		return MemoryAcquisition(inv, DefaultMemoryImageBytes)
	}
	return SSMResult{Stdout: strings.Join(inv.Parameters["commands"], "\n") + "\n"}
}

// MemoryAcquisition is a memory capture that succeeds: it uploads the
// instance's MemoryImage of size bytes to the first s3://bucket/key found
// in the command's parameters, else to the command's output location as
// <OutputS3KeyPrefix>/<instance id>/memory.lime, and prints
// "<sha256 hex>  s3://bucket/key" and the size. With neither, it fails:
// there is nowhere to put the image.
func MemoryAcquisition(inv SSMInvocation, size int) SSMResult {
	bucket, key := inv.OutputS3Bucket, strings.TrimSuffix(inv.OutputS3KeyPrefix, "/")+"/"+inv.InstanceID+"/memory.lime"
	key = strings.TrimPrefix(key, "/")
	found := false
	for _, name := range sortedKeys(inv.Parameters) {
		for _, v := range inv.Parameters[name] {
			if m := s3URLPattern.FindStringSubmatch(v); m != nil && !found {
				bucket, key, found = m[1], m[2], true
			}
		}
	}
	if bucket == "" {
		return SSMResult{ExitCode: 1, Stderr: "memory acquisition: no S3 destination (no s3:// URL and no OutputS3BucketName)\n"}
	}
	image := MemoryImage(inv.InstanceID, size)
	sum := sha256.Sum256(image)
	return SSMResult{
		Stdout:  fmt.Sprintf("%x  s3://%s/%s\nsize %d\n", sum, bucket, key, size),
		Objects: []SSMObject{{Bucket: bucket, Key: key, Body: image}},
	}
}

// MemoryImage is the deterministic pseudo memory image of an instance:
// size bytes drawn from a generator seeded by the instance id, so a test
// can recompute what the capture must have stored.
func MemoryImage(instanceID string, size int) []byte {
	seed := sha256.Sum256([]byte(instanceID))
	rng := rand.New(rand.NewPCG(binary.BigEndian.Uint64(seed[:8]), binary.BigEndian.Uint64(seed[8:16])))
	out := make([]byte, max(size, 0))
	for i := 0; i < len(out); i += 8 {
		var w [8]byte
		binary.LittleEndian.PutUint64(w[:], rng.Uint64())
		copy(out[i:], w[:])
	}
	return out
}

// ssmManaged is an instance with a registered agent.
type ssmManaged struct {
	InstanceID string
	Region     string
	Platform   string // "Linux" or "Windows"
	Registered time.Time
}

// SSMCommand is a command sent with SendCommand.
type SSMCommand struct {
	CommandID         string
	Region            string
	DocumentName      string
	Comment           string
	Parameters        map[string][]string
	InstanceIDs       []string
	OutputS3Bucket    string
	OutputS3KeyPrefix string
	TimeoutSeconds    int
	RequestedAt       time.Time
	Invocations       []*SSMCommandInvocation
}

// SSMCommandInvocation is a command's run on one instance.
type SSMCommandInvocation struct {
	InstanceID    string
	Status        string // Pending, InProgress, Success, Failed, TimedOut
	StatusDetails string
	Result        SSMResult
	StartedAt     time.Time
	EndsAt        time.Time
	// Delivered: the instance's agent was online; otherwise the command
	// waits for it until the delivery timeout.
	Delivered bool
	finished  bool
}

// ssmState is one account's managed instances and commands.
type ssmState struct {
	managed  map[string]*ssmManaged // region + "/" + instance id
	commands []*SSMCommand
}

func (w *world) ssm() *ssmState {
	if w.ssmState == nil {
		w.ssmState = &ssmState{managed: map[string]*ssmManaged{}}
	}
	return w.ssmState
}

// SetSSMManaged registers (or, with an empty platform, deregisters) an
// SSM agent on an instance of account (empty: the default account) in
// region (empty: the emulator's). platform is "Linux" or "Windows".
func (e *Emulator) SetSSMManaged(account, region, instanceID, platform string) error {
	if region == "" {
		region = e.region
	}
	if platform != "" && platform != "Linux" && platform != "Windows" {
		return fmt.Errorf("awsemu: SSM managed %s: platform %q is not Linux or Windows", instanceID, platform)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.inAccount(account, func() error {
		if _, ok := e.w.instances[instanceID]; !ok {
			return fmt.Errorf("awsemu: SSM managed: account %s has no instance %s", e.w.account, instanceID)
		}
		slot := region + "/" + instanceID
		if platform == "" {
			delete(e.w.ssm().managed, slot)
			return nil
		}
		e.w.ssm().managed[slot] = &ssmManaged{InstanceID: instanceID, Region: region, Platform: platform, Registered: e.clock()}
		return nil
	})
}

// SSMCommands returns copies of account's commands, oldest first, with
// their invocations as they are now.
func (e *Emulator) SSMCommands(account string) []SSMCommand {
	s, _ := e.AccountState(account)
	return s.SSMCommands
}

// ssmCommandsLocked copies e.w's commands. Caller holds e.mu.
func (e *Emulator) ssmCommandsLocked() []SSMCommand {
	var out []SSMCommand
	for _, c := range e.w.ssm().commands {
		cp := *c
		cp.InstanceIDs = slices.Clone(c.InstanceIDs)
		cp.Invocations = nil
		for _, inv := range c.Invocations {
			v := *inv
			v.Result.Objects = slices.Clone(inv.Result.Objects)
			cp.Invocations = append(cp.Invocations, &v)
		}
		out = append(out, cp)
	}
	return out
}

// pingStatus is what DescribeInstanceInformation says of an agent: online
// while its instance runs.
func (e *Emulator) pingStatus(m *ssmManaged) string {
	if in, ok := e.w.instances[m.InstanceID]; ok && in.State == StateRunning {
		return "Online"
	}
	return "ConnectionLost"
}

type ssmFilter struct {
	Key    string
	Values []string
}

func (e *Emulator) ssmDescribeInstanceInformation(r *request) (any, *apiError) {
	var in struct {
		Filters                       []ssmFilter
		InstanceInformationFilterList []struct {
			Key      string   `json:"key"`
			ValueSet []string `json:"valueSet"`
		}
		MaxResults int
		NextToken  string
	}
	if aerr := r.decode(&in); aerr != nil {
		return nil, aerr
	}
	var ids []string
	for _, f := range in.Filters {
		if f.Key != "InstanceIds" {
			return nil, clientErr(http.StatusBadRequest, "InvalidFilterKey", "awsemu filters instance information by InstanceIds only, not %s", f.Key)
		}
		ids = append(ids, f.Values...)
	}
	for _, f := range in.InstanceInformationFilterList {
		if f.Key != "InstanceIds" {
			return nil, clientErr(http.StatusBadRequest, "InvalidInstanceInformationFilterValue", "awsemu filters instance information by InstanceIds only, not %s", f.Key)
		}
		ids = append(ids, f.ValueSet...)
	}
	region := e.callRegion(r)
	var list []map[string]any
	for _, slot := range sortedKeys(e.w.ssm().managed) {
		m := e.w.ssm().managed[slot]
		if m.Region != region || len(ids) > 0 && !slices.Contains(ids, m.InstanceID) {
			continue
		}
		info := map[string]any{
			"InstanceId": m.InstanceID, "PingStatus": e.pingStatus(m), "LastPingDateTime": epochSeconds(r.now),
			"AgentVersion": "3.3.1142.0", "IsLatestVersion": true, "PlatformType": m.Platform, "ResourceType": "EC2Instance",
			"RegistrationDate": epochSeconds(m.Registered), "AssociationStatus": "Success",
		}
		if m.Platform == "Linux" {
			info["PlatformName"], info["PlatformVersion"] = "Amazon Linux", "2"
		} else {
			info["PlatformName"], info["PlatformVersion"] = "Microsoft Windows Server 2019 Datacenter", "10.0.17763"
		}
		if in, ok := e.w.instances[m.InstanceID]; ok {
			info["IPAddress"] = in.PrivateIP
			info["ComputerName"] = "ip-" + strings.ReplaceAll(in.PrivateIP, ".", "-") + ".ec2.internal"
		}
		list = append(list, info)
	}
	lo, hi, next, aerr := pageBounds(ServiceSSM, len(list), limitOr(in.MaxResults, 50), in.NextToken)
	if aerr != nil {
		return nil, aerr
	}
	out := map[string]any{"InstanceInformationList": orEmpty(list[lo:hi])}
	if next != "" {
		out["NextToken"] = next
	}
	return out, nil
}

// ssmDocuments are the AWS-owned documents the emulator knows; documents
// whose names do not start with "AWS-" are the account's own and are
// taken to exist.
var ssmDocuments = []string{"AWS-RunShellScript", "AWS-RunPowerShellScript"}

func (e *Emulator) ssmSendCommand(r *request) (any, *apiError) {
	var in struct {
		DocumentName       string
		InstanceIds        []string
		Targets            []ssmFilter
		Parameters         map[string][]string
		Comment            string
		TimeoutSeconds     int
		OutputS3BucketName string
		OutputS3KeyPrefix  string
	}
	if aerr := r.decode(&in); aerr != nil {
		return nil, aerr
	}
	if in.DocumentName == "" {
		return nil, errInvalid(ServiceSSM, "1 validation error detected: Value null at 'documentName' failed to satisfy constraint: Member must not be null")
	}
	if strings.HasPrefix(in.DocumentName, "AWS-") && !slices.Contains(ssmDocuments, in.DocumentName) {
		return nil, clientErr(http.StatusBadRequest, "InvalidDocument", "Document %s does not exist (awsemu knows %s and the account's own documents)", in.DocumentName, strings.Join(ssmDocuments, ", "))
	}
	if len(in.Targets) > 0 {
		return nil, errInvalid(ServiceSSM, "awsemu sends commands to InstanceIds only, not to Targets")
	}
	if len(in.InstanceIds) == 0 || len(in.InstanceIds) > 50 {
		return nil, errInvalid(ServiceSSM, "1 validation error detected: Value at 'instanceIds' failed to satisfy constraint: Member must have length between 1 and 50")
	}
	if in.TimeoutSeconds == 0 {
		in.TimeoutSeconds = 3600
	}
	if in.TimeoutSeconds < 30 || in.TimeoutSeconds > 2592000 {
		return nil, errInvalid(ServiceSSM, "1 validation error detected: Value '%d' at 'timeoutSeconds' failed to satisfy constraint: Member must have value between 30 and 2592000", in.TimeoutSeconds)
	}
	region := e.callRegion(r)
	var unmanaged []string
	for _, id := range in.InstanceIds {
		if _, ok := e.w.ssm().managed[region+"/"+id]; !ok {
			unmanaged = append(unmanaged, id)
		}
	}
	if len(unmanaged) > 0 {
		return nil, clientErr(http.StatusBadRequest, "InvalidInstanceId",
			"Instances [[%s]] not in a valid state for account %s", strings.Join(unmanaged, ", "), e.w.account)
	}
	execTimeout := 3600 * time.Second
	if v := in.Parameters["executionTimeout"]; len(v) > 0 {
		n, err := strconv.Atoi(v[0])
		if err != nil || n < 1 {
			return nil, clientErr(http.StatusBadRequest, "InvalidParameters", "Parameter executionTimeout must be a number of seconds, not %q", v[0])
		}
		execTimeout = time.Duration(n) * time.Second
	}
	cmd := &SSMCommand{
		CommandID: e.newUUID(), Region: region, DocumentName: in.DocumentName, Comment: in.Comment, Parameters: in.Parameters,
		InstanceIDs: slices.Clone(in.InstanceIds), OutputS3Bucket: in.OutputS3BucketName, OutputS3KeyPrefix: in.OutputS3KeyPrefix,
		TimeoutSeconds: in.TimeoutSeconds, RequestedAt: r.now,
	}
	respond := e.ssmResponder
	if respond == nil {
		respond = DefaultSSMResponder
	}
	for _, id := range in.InstanceIds {
		inv := &SSMCommandInvocation{InstanceID: id, Status: "Pending", StatusDetails: "Pending", StartedAt: r.now}
		m := e.w.ssm().managed[region+"/"+id]
		if e.pingStatus(m) != "Online" {
			// Nobody picks the command up: it waits for the delivery timeout.
			inv.EndsAt = r.now.Add(time.Duration(in.TimeoutSeconds) * time.Second)
		} else {
			inv.Delivered = true
			inv.Result = respond(SSMInvocation{Account: e.w.account, Region: region, CommandID: cmd.CommandID, InstanceID: id,
				DocumentName: in.DocumentName, Parameters: in.Parameters, OutputS3Bucket: in.OutputS3BucketName,
				OutputS3KeyPrefix: in.OutputS3KeyPrefix, RequestedAt: r.now})
			inv.Status, inv.StatusDetails = "InProgress", "InProgress"
			runFor := inv.Result.Delay
			if inv.Result.TimedOut && (runFor <= 0 || runFor > execTimeout) {
				runFor = execTimeout
			}
			inv.EndsAt = r.now.Add(runFor)
		}
		cmd.Invocations = append(cmd.Invocations, inv)
	}
	e.w.ssm().commands = append(e.w.ssm().commands, cmd)
	e.advanceCommand(cmd, r.now)
	return map[string]any{"Command": e.commandView(cmd)}, nil
}

// advanceCommand finishes the invocations whose time has come. Caller
// holds e.mu with e.w the command's account.
func (e *Emulator) advanceCommand(cmd *SSMCommand, now time.Time) {
	for _, inv := range cmd.Invocations {
		if inv.finished || now.Before(inv.EndsAt) {
			continue
		}
		inv.finished = true
		switch {
		case !inv.Delivered:
			inv.Status, inv.StatusDetails = "TimedOut", "DeliveryTimedOut"
		case inv.Result.TimedOut:
			inv.Status, inv.StatusDetails = "TimedOut", "ExecutionTimedOut"
			inv.Result.ExitCode = -1
		case inv.Result.ExitCode != 0:
			inv.Status, inv.StatusDetails = "Failed", "Failed"
		default:
			inv.Status, inv.StatusDetails = "Success", "Success"
			e.uploadResults(cmd, inv, now)
		}
	}
}

// tickSSM finishes every command invocation that is due in e.w.
func (e *Emulator) tickSSM(now time.Time) {
	if e.w.ssmState == nil {
		return
	}
	for _, cmd := range e.w.ssmState.commands {
		e.advanceCommand(cmd, now)
	}
}

// uploadResults writes what a successful invocation uploads, as the
// instance's role: its objects, then its output under the command's
// output location. A write the bucket refuses fails the invocation.
func (e *Emulator) uploadResults(cmd *SSMCommand, inv *SSMCommandInvocation, now time.Time) {
	as := e.instanceRolePrincipal(inv.InstanceID)
	objects := slices.Clone(inv.Result.Objects)
	if cmd.OutputS3Bucket != "" {
		base := strings.TrimPrefix(strings.TrimSuffix(cmd.OutputS3KeyPrefix, "/")+"/", "/") + cmd.CommandID + "/" + inv.InstanceID + "/awsrunShellScript/0.awsrunShellScript/"
		objects = append(objects, SSMObject{Bucket: cmd.OutputS3Bucket, Key: base + "stdout", Body: []byte(inv.Result.Stdout)})
		if inv.Result.Stderr != "" {
			objects = append(objects, SSMObject{Bucket: cmd.OutputS3Bucket, Key: base + "stderr", Body: []byte(inv.Result.Stderr)})
		}
	}
	for _, o := range objects {
		b, ok := e.buckets[o.Bucket]
		if !ok {
			e.failUpload(inv, o, "NoSuchBucket", "The specified bucket does not exist")
			return
		}
		if aerr := e.s3Authorize(as, b, "s3:PutObject", o.Key); aerr != nil {
			e.failUpload(inv, o, aerr.Code, aerr.Message)
			return
		}
		body := slices.Clone(o.Body)
		sum, _ := checksumOf("SHA256", body) // SHA256 is always supported
		obj := &S3Object{Key: o.Key, LastModified: now, Size: int64(len(body)), ETag: etagOf(body), ContentType: "binary/octet-stream",
			ChecksumAlgorithm: "SHA256", Checksum: sum, SHA256: sha256Hex(body), Body: body}
		if d := b.DefaultRetention; d != nil {
			obj.LockMode, obj.RetainUntil = d.Mode, now.AddDate(d.Years, 0, d.Days)
		}
		e.storeVersion(b, obj)
	}
}

func (e *Emulator) failUpload(inv *SSMCommandInvocation, o SSMObject, code, msg string) {
	inv.Status, inv.StatusDetails = "Failed", "Failed"
	inv.Result.ExitCode = 1
	inv.Result.Stderr += fmt.Sprintf("upload failed: s3://%s/%s: An error occurred (%s) when calling the PutObject operation: %s\n", o.Bucket, o.Key, code, msg)
}

// instanceRolePrincipal is who an instance's agent acts as: a session of
// its instance profile's role named after the instance, or the instance
// alone when it has no profile.
func (e *Emulator) instanceRolePrincipal(instanceID string) principal {
	p := principal{account: e.w.account, arn: "arn:aws:sts::" + e.w.account + ":assumed-role/none/" + instanceID, sessionName: instanceID}
	in, ok := e.w.instances[instanceID]
	if !ok || in.InstanceProfileARN == "" {
		return p
	}
	for _, prof := range e.w.profiles {
		if prof.ARN == in.InstanceProfileARN && len(prof.RoleNames) > 0 {
			if role, ok := e.w.roles[prof.RoleNames[0]]; ok {
				p.roleARN, p.arn = role.ARN, "arn:aws:sts::"+e.w.account+":assumed-role/"+role.Name+"/"+instanceID
			}
		}
	}
	return p
}

// commandStatus sums up a command's invocations as SSM does.
func commandStatus(cmd *SSMCommand) string {
	counts := map[string]int{}
	for _, inv := range cmd.Invocations {
		counts[inv.Status]++
	}
	switch {
	case counts["Pending"]+counts["InProgress"] > 0:
		if counts["InProgress"] > 0 {
			return "InProgress"
		}
		return "Pending"
	case counts["Success"] == len(cmd.Invocations):
		return "Success"
	case counts["TimedOut"] > 0:
		return "TimedOut"
	}
	return "Failed"
}

func (e *Emulator) commandView(cmd *SSMCommand) map[string]any {
	n, done, failed := len(cmd.Invocations), 0, 0
	for _, inv := range cmd.Invocations {
		if inv.finished {
			done++
			if inv.Status != "Success" {
				failed++
			}
		}
	}
	status := commandStatus(cmd)
	return map[string]any{
		"CommandId": cmd.CommandID, "DocumentName": cmd.DocumentName, "DocumentVersion": "$DEFAULT", "Comment": cmd.Comment,
		"Parameters": cmd.Parameters, "InstanceIds": cmd.InstanceIDs, "RequestedDateTime": epochSeconds(cmd.RequestedAt),
		"ExpiresAfter": epochSeconds(cmd.RequestedAt.Add(time.Duration(cmd.TimeoutSeconds) * time.Second)),
		"Status":       status, "StatusDetails": status, "OutputS3BucketName": cmd.OutputS3Bucket, "OutputS3KeyPrefix": cmd.OutputS3KeyPrefix,
		"OutputS3Region": cmd.Region, "TimeoutSeconds": cmd.TimeoutSeconds, "TargetCount": n, "CompletedCount": done, "ErrorCount": failed,
	}
}

// truncate cuts output as SSM does in its API answers.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

func (e *Emulator) outputURL(cmd *SSMCommand, inv *SSMCommandInvocation, stream string) string {
	if cmd.OutputS3Bucket == "" {
		return ""
	}
	key := strings.TrimPrefix(strings.TrimSuffix(cmd.OutputS3KeyPrefix, "/")+"/", "/") + cmd.CommandID + "/" + inv.InstanceID + "/awsrunShellScript/0.awsrunShellScript/" + stream
	return "https://s3." + cmd.Region + ".amazonaws.com/" + cmd.OutputS3Bucket + "/" + key
}

func (e *Emulator) invocationView(cmd *SSMCommand, inv *SSMCommandInvocation, details bool) map[string]any {
	v := map[string]any{
		"CommandId": cmd.CommandID, "InstanceId": inv.InstanceID, "Comment": cmd.Comment, "DocumentName": cmd.DocumentName,
		"DocumentVersion": "$DEFAULT", "RequestedDateTime": epochSeconds(cmd.RequestedAt), "Status": inv.Status,
		"StatusDetails": inv.StatusDetails, "StandardOutputUrl": e.outputURL(cmd, inv, "stdout"), "StandardErrorUrl": e.outputURL(cmd, inv, "stderr"),
	}
	if details {
		plugin := map[string]any{
			"Name": "aws:runShellScript", "Status": inv.Status, "StatusDetails": inv.StatusDetails, "ResponseCode": -1,
			"OutputS3BucketName": cmd.OutputS3Bucket, "OutputS3KeyPrefix": cmd.OutputS3KeyPrefix, "OutputS3Region": cmd.Region,
			"StandardOutputUrl": e.outputURL(cmd, inv, "stdout"), "StandardErrorUrl": e.outputURL(cmd, inv, "stderr"),
		}
		if inv.Delivered {
			plugin["ResponseStartDateTime"] = epochSeconds(inv.StartedAt)
		}
		if inv.finished {
			plugin["ResponseCode"] = inv.Result.ExitCode
			plugin["ResponseFinishDateTime"] = epochSeconds(inv.EndsAt)
			// The API shows the first 2500 characters of the output.
			plugin["Output"] = truncate(inv.Result.Stdout+inv.Result.Stderr, 2500)
		}
		v["CommandPlugins"] = []any{plugin}
	}
	return v
}

func (e *Emulator) ssmListCommandInvocations(r *request) (any, *apiError) {
	var in struct {
		CommandId  string
		InstanceId string
		Details    bool
		MaxResults int
		NextToken  string
	}
	if aerr := r.decode(&in); aerr != nil {
		return nil, aerr
	}
	region := e.callRegion(r)
	var list []map[string]any
	found := in.CommandId == ""
	for _, cmd := range slices.Backward(e.w.ssm().commands) {
		if cmd.Region != region || in.CommandId != "" && cmd.CommandID != in.CommandId {
			continue
		}
		found = true
		for _, inv := range cmd.Invocations {
			if in.InstanceId == "" || inv.InstanceID == in.InstanceId {
				list = append(list, e.invocationView(cmd, inv, in.Details))
			}
		}
	}
	if !found {
		return nil, clientErr(http.StatusBadRequest, "InvalidCommandId", "The command ID %s is not valid", in.CommandId)
	}
	lo, hi, next, aerr := pageBounds(ServiceSSM, len(list), limitOr(in.MaxResults, 50), in.NextToken)
	if aerr != nil {
		return nil, aerr
	}
	out := map[string]any{"CommandInvocations": orEmpty(list[lo:hi])}
	if next != "" {
		out["NextToken"] = next
	}
	return out, nil
}

func (e *Emulator) ssmGetCommandInvocation(r *request) (any, *apiError) {
	var in struct{ CommandId, InstanceId, PluginName string }
	if aerr := r.decode(&in); aerr != nil {
		return nil, aerr
	}
	for _, cmd := range e.w.ssm().commands {
		if cmd.CommandID != in.CommandId || cmd.Region != e.callRegion(r) {
			continue
		}
		for _, inv := range cmd.Invocations {
			if inv.InstanceID != in.InstanceId {
				continue
			}
			out := map[string]any{
				"CommandId": cmd.CommandID, "InstanceId": inv.InstanceID, "Comment": cmd.Comment, "DocumentName": cmd.DocumentName,
				"DocumentVersion": "$DEFAULT", "PluginName": "aws:runShellScript", "ResponseCode": -1, "Status": inv.Status,
				"StatusDetails": inv.StatusDetails, "StandardOutputUrl": e.outputURL(cmd, inv, "stdout"), "StandardErrorUrl": e.outputURL(cmd, inv, "stderr"),
				"StandardOutputContent": "", "StandardErrorContent": "",
			}
			if inv.Delivered {
				out["ExecutionStartDateTime"] = inv.StartedAt.UTC().Format(time.RFC3339)
			}
			if inv.finished {
				out["ResponseCode"] = inv.Result.ExitCode
				out["ExecutionEndDateTime"] = inv.EndsAt.UTC().Format(time.RFC3339)
				out["ExecutionElapsedTime"] = fmt.Sprintf("PT%.3fS", inv.EndsAt.Sub(inv.StartedAt).Seconds())
				// GetCommandInvocation shows up to 24000 characters of each stream.
				out["StandardOutputContent"] = truncate(inv.Result.Stdout, 24000)
				out["StandardErrorContent"] = truncate(inv.Result.Stderr, 8000)
			}
			return out, nil
		}
	}
	return nil, clientErr(http.StatusBadRequest, "InvocationDoesNotExist", "An invocation of command %s on instance %s does not exist", in.CommandId, in.InstanceId)
}
