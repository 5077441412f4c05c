package awsemu_test

import (
	"context"
	"crypto/sha256"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/cordon-ir/cordon/internal/awsemu"
)

// managedInstance adds a running instance with an SSM agent.
func managedInstance(t *testing.T, emu *awsemu.Emulator) string {
	t.Helper()
	id := addInstance(t, emu, awsemu.InstanceSpec{Name: "confluence-01"})
	if err := emu.SetSSMManaged("", "", id, "Linux"); err != nil {
		t.Fatal(err)
	}
	return id
}

// invocation lists the one invocation of a command, with details.
func invocation(t *testing.T, client *ssm.Client, commandID string) ssmtypes.CommandInvocation {
	t.Helper()
	out, err := client.ListCommandInvocations(context.Background(), &ssm.ListCommandInvocationsInput{CommandId: aws.String(commandID), Details: true})
	if err != nil || len(out.CommandInvocations) != 1 {
		t.Fatalf("ListCommandInvocations: %+v, %v", out, err)
	}
	return out.CommandInvocations[0]
}

func runShell(t *testing.T, client *ssm.Client, instanceID string, commands ...string) string {
	t.Helper()
	out, err := client.SendCommand(context.Background(), &ssm.SendCommandInput{DocumentName: aws.String("AWS-RunShellScript"),
		InstanceIds: []string{instanceID}, Parameters: map[string][]string{"commands": commands}})
	if err != nil {
		t.Fatalf("SendCommand: %v", err)
	}
	return aws.ToString(out.Command.CommandId)
}

// Only instances with an agent are managed; a command to any other fails
// with InvalidInstanceId, as in SSM.
func TestSSMManagedInstancesOnly(t *testing.T) {
	emu := awsemu.NewTestServer(t, awsemu.Options{})
	ctx := context.Background()
	managed := managedInstance(t, emu)
	bare := addInstance(t, emu, awsemu.InstanceSpec{Name: "no-agent"})
	client := ssm.NewFromConfig(emu.AWSConfig())
	info, err := client.DescribeInstanceInformation(ctx, &ssm.DescribeInstanceInformationInput{
		Filters: []ssmtypes.InstanceInformationStringFilter{{Key: aws.String("InstanceIds"), Values: []string{managed, bare}}}})
	if err != nil || len(info.InstanceInformationList) != 1 || aws.ToString(info.InstanceInformationList[0].InstanceId) != managed ||
		info.InstanceInformationList[0].PingStatus != ssmtypes.PingStatusOnline || info.InstanceInformationList[0].PlatformType != ssmtypes.PlatformTypeLinux {
		t.Fatalf("DescribeInstanceInformation = %+v, %v", info, err)
	}
	_, err = client.SendCommand(ctx, &ssm.SendCommandInput{DocumentName: aws.String("AWS-RunShellScript"), InstanceIds: []string{bare},
		Parameters: map[string][]string{"commands": {"ps aux"}}})
	if code := apiCode(t, err); code != "InvalidInstanceId" {
		t.Fatalf("command to an instance without an agent: %v", err)
	}
	if err := emu.SetSSMManaged("", "", "i-00000000000000000", "Linux"); err == nil {
		t.Error("an agent was registered on an instance that does not exist")
	}
	emu.Deny(awsemu.AllPrincipals, "ssm:SendCommand")
	_, err = client.SendCommand(ctx, &ssm.SendCommandInput{DocumentName: aws.String("AWS-RunShellScript"), InstanceIds: []string{managed},
		Parameters: map[string][]string{"commands": {"ps aux"}}})
	if code := apiCode(t, err); code != "AccessDeniedException" || !strings.Contains(err.Error(), "ssm:SendCommand") {
		t.Fatalf("denied SendCommand: %v", err)
	}
}

// A command's outcome, as the programmable agent says: success with its
// output, failure with its exit code, a timeout; the default agent echoes.
func TestSSMCommandOutcomes(t *testing.T) {
	var mu sync.Mutex
	now := time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	emu := awsemu.NewTestServer(t, awsemu.Options{Clock: clock})
	id := managedInstance(t, emu)
	client := ssm.NewFromConfig(emu.AWSConfig())

	echo := invocation(t, client, runShell(t, client, id, "uname -a"))
	if echo.Status != ssmtypes.CommandInvocationStatusSuccess || !strings.Contains(aws.ToString(echo.CommandPlugins[0].Output), "uname -a") {
		t.Fatalf("default agent = %s %q", echo.Status, aws.ToString(echo.CommandPlugins[0].Output))
	}

	emu.SetSSMResponder(func(inv awsemu.SSMInvocation) awsemu.SSMResult {
		switch inv.Parameters["commands"][0] {
		case "ss -tanp":
			return awsemu.SSMResult{Stdout: "ESTAB 10.0.1.5:41234 45.133.203.192:80 kinsing\n", Delay: 10 * time.Second}
		case "crontab -l":
			return awsemu.SSMResult{Stderr: "no crontab for root\n", ExitCode: 1}
		default:
			return awsemu.SSMResult{TimedOut: true}
		}
	})
	slow := runShell(t, client, id, "ss -tanp")
	if got := invocation(t, client, slow); got.Status != ssmtypes.CommandInvocationStatusInProgress {
		t.Fatalf("a command still running = %s", got.Status)
	}
	advance(11 * time.Second)
	done, err := client.GetCommandInvocation(context.Background(), &ssm.GetCommandInvocationInput{CommandId: aws.String(slow), InstanceId: aws.String(id)})
	if err != nil || done.Status != ssmtypes.CommandInvocationStatusSuccess || !strings.Contains(aws.ToString(done.StandardOutputContent), "45.133.203.192") ||
		done.ResponseCode != 0 {
		t.Fatalf("GetCommandInvocation = %+v, %v", done, err)
	}

	failed := invocation(t, client, runShell(t, client, id, "crontab -l"))
	if failed.Status != ssmtypes.CommandInvocationStatusFailed || failed.CommandPlugins[0].ResponseCode != 1 {
		t.Fatalf("failing command = %s code %d", failed.Status, failed.CommandPlugins[0].ResponseCode)
	}

	hung := runShell(t, client, id, "find / -name '*.so'")
	if got := invocation(t, client, hung); got.Status != ssmtypes.CommandInvocationStatusInProgress {
		t.Fatalf("a command before its timeout = %s", got.Status)
	}
	advance(time.Hour)
	timedOut := invocation(t, client, hung)
	if timedOut.Status != ssmtypes.CommandInvocationStatusTimedOut || aws.ToString(timedOut.StatusDetails) != "ExecutionTimedOut" {
		t.Fatalf("timed-out command = %s %s", timedOut.Status, aws.ToString(timedOut.StatusDetails))
	}
	if _, err := client.GetCommandInvocation(context.Background(), &ssm.GetCommandInvocationInput{CommandId: aws.String(hung), InstanceId: aws.String("i-0ffffffffffffffff")}); apiCode(t, err) != "InvocationDoesNotExist" {
		t.Fatalf("GetCommandInvocation of no invocation: %v", err)
	}
}

// The default agent's memory acquisition writes a deterministic image to
// the command's output location in the evidence bucket and prints its
// SHA-256; the instance's role must be allowed to write there.
func TestSSMMemoryAcquisitionWritesTheImage(t *testing.T) {
	emu := awsemu.NewTestServer(t, awsemu.Options{})
	ctx := context.Background()
	id := managedInstance(t, emu)
	evidence := s3Client(emu.AWSConfig())
	if _, err := evidence.CreateBucket(ctx, s3CreateBucket("cordon-evidence")); err != nil {
		t.Fatal(err)
	}
	client := ssm.NewFromConfig(emu.AWSConfig())
	out, err := client.SendCommand(ctx, &ssm.SendCommandInput{DocumentName: aws.String("AWS-RunShellScript"), InstanceIds: []string{id},
		Parameters:         map[string][]string{"commands": {"curl -sO https://tools.example/avml && sha256sum -c avml.sha256", "./avml /tmp/mem.lime"}},
		OutputS3BucketName: aws.String("cordon-evidence"), OutputS3KeyPrefix: aws.String("case-1/memory")})
	if err != nil {
		t.Fatal(err)
	}
	commandID := aws.ToString(out.Command.CommandId)
	got := invocation(t, client, commandID)
	key := "case-1/memory/" + id + "/memory.lime"
	image := awsemu.MemoryImage(id, awsemu.DefaultMemoryImageBytes)
	sum := fmt.Sprintf("%x", sha256.Sum256(image))
	if got.Status != ssmtypes.CommandInvocationStatusSuccess || !strings.Contains(aws.ToString(got.CommandPlugins[0].Output), sum+"  s3://cordon-evidence/"+key) {
		t.Fatalf("memory acquisition = %s %q", got.Status, aws.ToString(got.CommandPlugins[0].Output))
	}
	stored, ok := emu.S3Object("cordon-evidence", key, "")
	if !ok || stored.SHA256 != sum || stored.Size != int64(len(image)) || stored.ChecksumAlgorithm != "SHA256" {
		t.Fatalf("stored image = %+v, %v", stored.Key, ok)
	}
	if _, ok := emu.S3Object("cordon-evidence", "case-1/memory/"+commandID+"/"+id+"/awsrunShellScript/0.awsrunShellScript/stdout", ""); !ok {
		t.Error("the command's stdout was not written to its output location")
	}

	// A bucket the instance's role may not write to fails the capture.
	if _, err := s3Client(forensicRole(t, emu)).CreateBucket(ctx, s3CreateBucket("forensic-only")); err != nil {
		t.Fatal(err)
	}
	out, err = client.SendCommand(ctx, &ssm.SendCommandInput{DocumentName: aws.String("AWS-RunShellScript"), InstanceIds: []string{id},
		Parameters: map[string][]string{"commands": {"./avml /tmp/mem.lime"}}, OutputS3BucketName: aws.String("forensic-only")})
	if err != nil {
		t.Fatal(err)
	}
	refused := invocation(t, client, aws.ToString(out.Command.CommandId))
	if refused.Status != ssmtypes.CommandInvocationStatusFailed || !strings.Contains(aws.ToString(refused.CommandPlugins[0].Output), "AccessDenied") {
		t.Fatalf("capture into a bucket the role may not write = %s %q", refused.Status, aws.ToString(refused.CommandPlugins[0].Output))
	}
	cmds := emu.SSMCommands(emu.AccountID())
	if len(cmds) != 2 || cmds[0].Invocations[0].Status != "Success" || cmds[1].Invocations[0].Status != "Failed" {
		t.Fatalf("commands = %+v", cmds)
	}
}
