package awsemu_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"

	"github.com/cordon-ir/cordon/internal/awsemu"
)

// fastRetries is the SDK's standard retryer with short backoff, so tests
// exercise real retry behaviour without waiting seconds.
func fastRetries(cfg aws.Config, attempts int) aws.Config {
	cfg.Retryer = func() aws.Retryer {
		return retry.NewStandard(func(o *retry.StandardOptions) {
			o.MaxAttempts = attempts
			o.MaxBackoff = 40 * time.Millisecond
		})
	}
	return cfg
}

func TestThrottlingAndStandardRetryer(t *testing.T) {
	// The emulator's clock stands still while the bucket is drained, so
	// that a loaded machine cannot refill it between calls, then moves
	// 10ms per reading so that retries find tokens again.
	var mu sync.Mutex
	now, step := time.Now(), time.Duration(0)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); now = now.Add(step); return now }
	emu := awsemu.NewTestServer(t, awsemu.Options{Clock: clock})
	if _, err := emu.SeedFleet(awsemu.FleetSpec{Instances: 2}); err != nil {
		t.Fatal(err)
	}
	emu.SetThrottling(awsemu.Throttle{NonMutating: awsemu.Bucket{Capacity: 2, RefillPerSecond: 50}})
	ctx := context.Background()

	once := ec2.NewFromConfig(fastRetries(emu.AWSConfig(), 1))
	var throttled bool
	for range 5 {
		if _, err := once.DescribeInstances(ctx, &ec2.DescribeInstancesInput{}); err != nil {
			if code := apiCode(t, err); code != "RequestLimitExceeded" {
				t.Fatalf("throttled call: %s", code)
			}
			throttled = true
		}
	}
	if !throttled {
		t.Fatal("5 back-to-back calls against a bucket of 2 were never throttled")
	}

	mu.Lock()
	step = 10 * time.Millisecond
	mu.Unlock()
	retrying := ec2.NewFromConfig(fastRetries(emu.AWSConfig(), 20))
	for i := range 10 {
		if _, err := retrying.DescribeInstances(ctx, &ec2.DescribeInstancesInput{}); err != nil {
			t.Fatalf("call %d with retries: %v", i, err)
		}
	}
	// Mutating calls have their own bucket, which is unlimited here.
	if _, err := once.CreateTags(ctx, &ec2.CreateTagsInput{Resources: []string{emu.State().Instances[0].ID},
		Tags: []ec2types.Tag{{Key: aws.String("k"), Value: aws.String("v")}}}); err != nil {
		t.Fatalf("mutating call throttled by the non-mutating bucket: %v", err)
	}

	emu.SetThrottling(awsemu.Throttle{NonMutating: awsemu.Bucket{Capacity: 1}})
	client := iam.NewFromConfig(fastRetries(emu.AWSConfig(), 1))
	_, _ = client.ListAccessKeys(ctx, &iam.ListAccessKeysInput{UserName: aws.String("x")})
	_, err := client.ListAccessKeys(ctx, &iam.ListAccessKeysInput{UserName: aws.String("x")})
	if code := apiCode(t, err); code != "Throttling" {
		t.Errorf("awsquery throttling code = %s", code)
	}
}

// EC2 meters each API action in its own bucket: spending DescribeInstances'
// bucket leaves DescribeVpcs untouched, unless the class is shared.
func TestThrottlingPerAction(t *testing.T) {
	emu, _ := newFleet(t, awsemu.FleetSpec{Instances: 1})
	ctx := context.Background()
	client := ec2.NewFromConfig(fastRetries(emu.AWSConfig(), 1))
	describeThenVpcs := func() (instancesThrottled bool, vpcsErr error) {
		for range 3 {
			if _, err := client.DescribeInstances(ctx, &ec2.DescribeInstancesInput{}); err != nil {
				if code := apiCode(t, err); code != "RequestLimitExceeded" {
					t.Fatalf("throttled call: %s", code)
				}
				instancesThrottled = true
			}
		}
		_, vpcsErr = client.DescribeVpcs(ctx, &ec2.DescribeVpcsInput{})
		return instancesThrottled, vpcsErr
	}

	emu.SetThrottling(awsemu.Throttle{NonMutating: awsemu.Bucket{Capacity: 2}, PerAction: true})
	throttled, err := describeThenVpcs()
	if !throttled {
		t.Fatal("3 calls against a bucket of 2 were never throttled")
	}
	if err != nil {
		t.Errorf("per action: DescribeVpcs throttled by DescribeInstances' bucket: %v", err)
	}

	emu.SetThrottling(awsemu.Throttle{NonMutating: awsemu.Bucket{Capacity: 2}})
	if _, err := describeThenVpcs(); err == nil || apiCode(t, err) != "RequestLimitExceeded" {
		t.Errorf("per class: DescribeVpcs after the shared bucket was spent = %v, want RequestLimitExceeded", err)
	}
}

func TestServerErrorsAreDeterministicAndRetried(t *testing.T) {
	run := func() []int {
		emu := awsemu.NewTestServer(t, awsemu.Options{})
		emu.SetServerErrorRate(0.5, 42)
		client := ec2.NewFromConfig(fastRetries(emu.AWSConfig(), 1))
		for range 20 {
			_, _ = client.DescribeVpcs(context.Background(), &ec2.DescribeVpcsInput{})
		}
		var statuses []int
		for _, c := range emu.Calls() {
			statuses = append(statuses, c.Status)
		}
		return statuses
	}
	a, b := run(), run()
	if !sameJSON(t, a, b) {
		t.Fatalf("same seed gave different failures:\n%v\n%v", a, b)
	}
	var failures int
	for _, s := range a {
		if s >= 500 {
			failures++
		}
	}
	if failures == 0 || failures == len(a) {
		t.Fatalf("rate 0.5 gave %d failures of %d", failures, len(a))
	}

	emu := awsemu.NewTestServer(t, awsemu.Options{})
	emu.SetServerErrorRate(0.3, 7)
	client := ec2.NewFromConfig(fastRetries(emu.AWSConfig(), 10))
	for range 10 {
		if _, err := client.DescribeVpcs(context.Background(), &ec2.DescribeVpcsInput{}); err != nil {
			t.Fatalf("retryer did not ride out 5xx: %v", err)
		}
	}
}

func TestFailNextAndDeny(t *testing.T) {
	emu, info := newFleet(t, awsemu.FleetSpec{Instances: 1})
	ctx := context.Background()
	client := ec2.NewFromConfig(fastRetries(emu.AWSConfig(), 1))
	emu.FailNext("ec2:CreateSnapshots", "SnapshotCreationPerVolumeRateExceeded", 400, 1)
	in := &ec2.CreateSnapshotsInput{InstanceSpecification: &ec2types.InstanceSpecification{InstanceId: aws.String(info.InstanceIDs[0])}}
	_, err := client.CreateSnapshots(ctx, in)
	if code := apiCode(t, err); code != "SnapshotCreationPerVolumeRateExceeded" {
		t.Fatalf("injected failure: %s", code)
	}
	if _, err := client.CreateSnapshots(ctx, in); err != nil {
		t.Fatalf("second call should succeed: %v", err)
	}

	emu.Deny(awsemu.DefaultAccessKeyID, "iam:*")
	_, err = iam.NewFromConfig(emu.AWSConfig()).GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String("x")})
	if code := apiCode(t, err); code != "AccessDenied" || !strings.Contains(err.Error(), "iam:GetRole") {
		t.Fatalf("denied IAM call: %v", err)
	}
	emu.ResetFaults()
	_, err = iam.NewFromConfig(emu.AWSConfig()).GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String("x")})
	if code := apiCode(t, err); code != "NoSuchEntity" {
		t.Fatalf("after reset: %v", err)
	}
	if muts := emu.Mutations(); len(muts) != 1 || muts[0].IAMAction != "ec2:CreateSnapshots" || muts[0].RequestID == "" {
		t.Errorf("mutations = %+v", muts)
	}
}

func TestConcurrentClients(t *testing.T) {
	emu, info := newFleet(t, awsemu.FleetSpec{Instances: 20, InAutoScalingGroup: 5, BehindTargetGroup: 5})
	ctx := context.Background()
	client := ec2.NewFromConfig(emu.AWSConfig())
	var wg sync.WaitGroup
	errs := make(chan error, 200)
	for i := range 200 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := info.InstanceIDs[i%len(info.InstanceIDs)]
			var err error
			switch i % 4 {
			case 0:
				_, err = client.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{id}})
			case 1:
				_, err = client.CreateTags(ctx, &ec2.CreateTagsInput{Resources: []string{id}, Tags: []ec2types.Tag{{Key: aws.String("n"), Value: aws.String("v")}}})
			case 2:
				_, err = client.CreateSnapshots(ctx, &ec2.CreateSnapshotsInput{InstanceSpecification: &ec2types.InstanceSpecification{InstanceId: aws.String(id)}})
			default:
				_ = emu.State()
				_, err = client.DescribeSnapshots(ctx, &ec2.DescribeSnapshotsInput{OwnerIds: []string{"self"}})
			}
			if err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := len(emu.Calls()); n != 200 {
		t.Errorf("recorded %d calls, want 200", n)
	}
}

func TestGarbageRequests(t *testing.T) {
	emu := awsemu.NewTestServer(t, awsemu.Options{})
	auth := "AWS4-HMAC-SHA256 Credential=AKIDEMU/20261126/us-east-1/ec2/aws4_request, SignedHeaders=host, Signature=00"
	cases := []struct {
		name, auth, body string
		status           int
		code             string
	}{
		{"no auth", "", "Action=DescribeInstances&Version=2016-11-15", 403, "MissingAuthenticationToken"},
		{"bad auth", "Bearer x", "Action=DescribeInstances&Version=2016-11-15", 403, "IncompleteSignature"},
		{"bad escape", auth, "Action=%zz&&&=", 400, "MalformedQueryString"},
		{"unknown action", auth, "Action=LaunchMissiles&Version=2016-11-15", 400, "InvalidAction"},
		{"no action", auth, "Version=2016-11-15", 400, "MissingParameter"},
		{"binary", auth, "\x00\xff\xfe<xml>", 400, ""},
		{"huge index", auth, "Action=DescribeInstances&Version=2016-11-15&InstanceId.99999999999=i-1&Filter.1.Value.7=x", 200, "ignored"},
		{"bad max", auth, "Action=DescribeInstances&Version=2016-11-15&MaxResults=abc", 400, "InvalidParameterValue"},
		{"bad token", auth, "Action=DescribeInstances&Version=2016-11-15&NextToken=zzz", 400, "InvalidParameterValue"},
		{"elb unknown version", strings.Replace(auth, "/ec2/", "/elasticloadbalancing/", 1), "Action=DescribeLoadBalancers&Version=1999-01-01", 400, "InvalidAction"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, emu.URL()+"/", strings.NewReader(tc.body))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			if tc.auth != "" {
				req.Header.Set("Authorization", tc.auth)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != tc.status && !(tc.code == "" && resp.StatusCode >= 400 && resp.StatusCode < 500) {
				t.Errorf("status %d, want %d", resp.StatusCode, tc.status)
			}
			if resp.Header.Get("x-amzn-RequestId") == "" {
				t.Error("no request id header")
			}
		})
	}
}

func TestAdminEndpoints(t *testing.T) {
	emu, info := newFleet(t, awsemu.FleetSpec{Instances: 3})
	if _, err := ec2.NewFromConfig(emu.AWSConfig()).DescribeInstances(context.Background(), &ec2.DescribeInstancesInput{}); err != nil {
		t.Fatal(err)
	}
	state, err := awsemu.FetchState(context.Background(), nil, emu.URL())
	if err != nil || len(state.Instances) != 3 || state.Instances[0].ID != info.InstanceIDs[0] {
		t.Fatalf("FetchState: %v %+v", err, state.Instances)
	}
	// At least one call: the SDK may retry an attempt on a loaded machine
	// (seen under the race detector), but every recorded call is this one.
	calls, err := awsemu.FetchCalls(context.Background(), nil, emu.URL())
	if err != nil || len(calls) == 0 {
		t.Fatalf("FetchCalls: %v %+v", err, calls)
	}
	for _, c := range calls {
		if c.IAMAction != "ec2:DescribeInstances" {
			t.Fatalf("FetchCalls: unexpected call %+v", c)
		}
	}
	resp, err := http.Get(emu.URL() + "/_emu/operations")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var ops []awsemu.OperationInfo
	if err := json.NewDecoder(resp.Body).Decode(&ops); err != nil || len(ops) < 50 {
		t.Fatalf("operations: %v, %d", err, len(ops))
	}
}

func TestSeedIsReproducible(t *testing.T) {
	ids := func() []string {
		emu := awsemu.New(awsemu.Options{Seed: 7})
		info, err := emu.SeedFleet(awsemu.FleetSpec{Instances: 4, WithInstanceRole: true})
		if err != nil {
			t.Fatal(err)
		}
		return append(info.InstanceIDs, info.VPCID, info.SecurityGroupID)
	}
	if a, b := ids(), ids(); !sameJSON(t, a, b) {
		t.Fatalf("same seed, different ids: %v vs %v", a, b)
	}
}

func TestSnapshotCompletionFailVolumes(t *testing.T) {
	emu, info := newFleet(t, awsemu.FleetSpec{Instances: 1, Volumes: 2})
	ctx := context.Background()
	client := ec2.NewFromConfig(emu.AWSConfig())
	in, _ := emu.Instance(info.InstanceIDs[0])
	if len(in.BlockDevices) != 2 {
		t.Fatalf("block devices = %+v", in.BlockDevices)
	}
	good, bad := in.BlockDevices[0].VolumeID, in.BlockDevices[1].VolumeID
	emu.SetSnapshotCompletion(awsemu.SnapshotCompletion{FailVolumes: []string{bad}})

	// Accepted like any snapshot: AWS answers pending, the failure shows later.
	out, err := client.CreateSnapshots(ctx, &ec2.CreateSnapshotsInput{InstanceSpecification: &ec2types.InstanceSpecification{InstanceId: aws.String(in.ID)}})
	if err != nil || len(out.Snapshots) != 2 {
		t.Fatalf("CreateSnapshots: %v %+v", err, out)
	}
	byVolume := map[string]string{}
	for _, s := range out.Snapshots {
		if s.State != ec2types.SnapshotStatePending {
			t.Errorf("CreateSnapshots answered %s for %s, want pending", s.State, aws.ToString(s.VolumeId))
		}
		byVolume[aws.ToString(s.VolumeId)] = aws.ToString(s.SnapshotId)
	}
	failed, completed := byVolume[bad], byVolume[good]
	single, err := client.CreateSnapshot(ctx, &ec2.CreateSnapshotInput{VolumeId: aws.String(bad)})
	if err != nil || single.State != ec2types.SnapshotStatePending {
		t.Fatalf("CreateSnapshot: %v %+v", err, single)
	}

	described, err := client.DescribeSnapshots(ctx, &ec2.DescribeSnapshotsInput{SnapshotIds: []string{failed, completed, aws.ToString(single.SnapshotId)}})
	if err != nil || len(described.Snapshots) != 3 {
		t.Fatalf("DescribeSnapshots: %v %+v", err, described)
	}
	for _, s := range described.Snapshots {
		id, state, msg := aws.ToString(s.SnapshotId), s.State, aws.ToString(s.StateMessage)
		if id == completed {
			if state != ec2types.SnapshotStateCompleted || msg != "" {
				t.Errorf("snapshot of the unlisted volume: state %s, message %q", state, msg)
			}
			continue
		}
		if state != ec2types.SnapshotStateError || msg != awsemu.SnapshotFailedMessage {
			t.Errorf("snapshot %s of the listed volume: state %s, message %q", id, state, msg)
		}
	}
	errored, err := client.DescribeSnapshots(ctx, &ec2.DescribeSnapshotsInput{OwnerIds: []string{"self"},
		Filters: []ec2types.Filter{{Name: aws.String("status"), Values: []string{"error"}}}})
	if err != nil || len(errored.Snapshots) != 2 {
		t.Errorf("status=error filter: %v %+v", err, errored)
	}
	// The SDK's waiter gives up at once on a failed snapshot.
	waitErr := ec2.NewSnapshotCompletedWaiter(client).Wait(ctx, &ec2.DescribeSnapshotsInput{SnapshotIds: []string{failed}}, 5*time.Second)
	if waitErr == nil || !strings.Contains(waitErr.Error(), "Failure") {
		t.Errorf("waiter on a failed snapshot: %v", waitErr)
	}

	// Whether a snapshot fails is decided when it starts: listing a volume
	// does not fail its pending snapshot, and clearing the list lets the
	// next snapshot of the failed volume complete.
	emu.SetSnapshotCompletion(awsemu.SnapshotCompletion{After: time.Hour})
	retaken, err := client.CreateSnapshot(ctx, &ec2.CreateSnapshotInput{VolumeId: aws.String(bad)})
	if err != nil {
		t.Fatalf("CreateSnapshot after clearing: %v", err)
	}
	emu.SetSnapshotCompletion(awsemu.SnapshotCompletion{FailVolumes: []string{bad}})
	states := map[string]string{}
	for _, s := range emu.Snapshots() {
		states[s.ID] = s.State
	}
	want := map[string]string{failed: "error", aws.ToString(single.SnapshotId): "error", completed: "completed", aws.ToString(retaken.SnapshotId): "completed"}
	if !sameJSON(t, states, want) {
		t.Errorf("emulator snapshot states = %v, want %v", states, want)
	}
}

func TestLoseResponsesAppliesTheChangeThenFails(t *testing.T) {
	emu, _ := newFleet(t, awsemu.FleetSpec{Instances: 1})
	ctx := context.Background()
	client := ec2.NewFromConfig(fastRetries(emu.AWSConfig(), 1))
	id := emu.State().Instances[0].ID
	emu.LoseResponses("ec2:CreateTags", 1)

	_, err := client.CreateTags(ctx, &ec2.CreateTagsInput{Resources: []string{id},
		Tags: []ec2types.Tag{{Key: aws.String("lost"), Value: aws.String("yes")}}})
	if code := apiCode(t, err); code != "InternalError" {
		t.Fatalf("lost response: got %v, want InternalError", err)
	}
	if got := emu.State().Instances[0].Tags["lost"]; got != "yes" {
		t.Fatalf("the change behind a lost response was not made: tag %q", got)
	}
	if _, err := client.CreateTags(ctx, &ec2.CreateTagsInput{Resources: []string{id},
		Tags: []ec2types.Tag{{Key: aws.String("next"), Value: aws.String("ok")}}}); err != nil {
		t.Fatalf("only one response was to be lost: %v", err)
	}
}

func TestConsistencyLagHidesNewResourcesForSomeCalls(t *testing.T) {
	emu, _ := newFleet(t, awsemu.FleetSpec{Instances: 1})
	ctx := context.Background()
	client := ec2.NewFromConfig(fastRetries(emu.AWSConfig(), 1))
	emu.SetConsistencyLag(2)
	out, err := client.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{GroupName: aws.String("lagging"),
		Description: aws.String("d"), VpcId: aws.String(emu.State().Instances[0].VPCID)})
	if err != nil {
		t.Fatal(err)
	}
	describe := func() error {
		_, err := client.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{GroupIds: []string{*out.GroupId}})
		return err
	}
	for i := range 2 {
		if code := apiCode(t, describe()); code != "InvalidGroup.NotFound" {
			t.Fatalf("reference %d to a group just created: got %s, want InvalidGroup.NotFound", i+1, code)
		}
	}
	if err := describe(); err != nil {
		t.Fatalf("after the lag the group must be visible: %v", err)
	}
}
