package awsemu_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"

	"github.com/cordon-ir/cordon/internal/awsemu"
)

// Example shows the usual test set-up: seed a fleet, point the real SDK at
// the emulator, and assert on the recorded calls.
func Example() {
	ctx := context.Background()
	emu := awsemu.New(awsemu.Options{})
	if _, err := emu.Start(ctx); err != nil {
		fmt.Println(err)
		return
	}
	defer emu.Close()
	fleet, err := emu.SeedFleet(awsemu.FleetSpec{Instances: 3, Compromised: []int{0}})
	if err != nil {
		fmt.Println(err)
		return
	}
	client := ec2.NewFromConfig(emu.AWSConfig())
	_, err = client.StopInstances(ctx, &ec2.StopInstancesInput{InstanceIds: fleet.CompromisedIDs, DryRun: aws.Bool(true)})
	fmt.Println(err != nil, len(emu.Mutations()))
	// Output: true 0
}

// fakeClock is a settable clock, safe for the emulator's concurrent use.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }

func (c *fakeClock) Advance(d time.Duration) { c.mu.Lock(); defer c.mu.Unlock(); c.now = c.now.Add(d) }

func TestStateTransitionDelay(t *testing.T) {
	clock := &fakeClock{now: time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)}
	emu := awsemu.NewTestServer(t, awsemu.Options{Clock: clock.Now, StateTransitionDelay: time.Minute})
	in, err := emu.AddInstance(awsemu.InstanceSpec{Name: "wiki-1"})
	if err != nil {
		t.Fatal(err)
	}
	client := ec2.NewFromConfig(emu.AWSConfig())
	if _, err := client.StopInstances(context.Background(), &ec2.StopInstancesInput{InstanceIds: []string{in.ID}}); err != nil {
		t.Fatal(err)
	}
	if got, _ := emu.Instance(in.ID); got.State != awsemu.StateStopping {
		t.Fatalf("state before the delay = %s", got.State)
	}
	clock.Advance(time.Minute)
	if got, _ := emu.Instance(in.ID); got.State != awsemu.StateStopped {
		t.Fatalf("state after the delay = %s", got.State)
	}
}
