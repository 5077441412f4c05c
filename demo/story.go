package demo

import (
	"fmt"
	"time"

	"github.com/cordon-ir/cordon/internal/awsemu"
)

// Story is the world the demo seeds into the emulator: the Confluence
// fleet, what the SOC confirmed, and what must come out untouched.
type Story struct {
	Fleet awsemu.FleetInfo
	// Compromised is the SOC's confirmed list: the runbook's compromised input.
	Compromised []string
	// Others are instances that are not Confluence servers at all.
	Others []string
	// LeakedUser's access key LeakedKeyID was found in a public repository.
	LeakedUser  string
	LeakedKeyID string
	// CompromisedSince is the earliest attacker activity the SOC saw.
	CompromisedSince time.Time
	// BystanderUser is an IAM user nobody suspects; it must stay untouched.
	BystanderUser string
}

// SeedStory seeds the emulator with the story's world: a dozen "demo"
// Confluence servers (App=confluence, Env=demo) sharing an instance role,
// six of them in an Auto Scaling group behind a target group, with one to
// three interfaces and two or three volumes each, four showing the OGNL
// exploitation in their console output; two unrelated instances in the
// same VPC; a CI user whose access key leaked; and an unrelated user.
func SeedStory(emu *awsemu.Emulator, now time.Time) (Story, error) {
	fleet, err := emu.SeedFleet(awsemu.FleetSpec{
		Instances:  12,
		NamePrefix: "confluence",
		// Two confirmed hosts inside the Auto Scaling group and target
		// group (the first six), two outside: the demo shows both paths.
		Compromised:        []int{1, 4, 7, 10},
		InAutoScalingGroup: 6,
		BehindTargetGroup:  6,
		WithInstanceRole:   true,
	})
	if err != nil {
		return Story{}, fmt.Errorf("seed the Confluence fleet: %w", err)
	}
	s := Story{Fleet: fleet, Compromised: fleet.CompromisedIDs, CompromisedSince: now.Add(-36 * time.Hour).UTC().Truncate(time.Second)}
	for _, o := range []struct{ name, app string }{{"jira-01", "jira"}, {"build-runner-01", "ci"}} {
		in, err := emu.AddInstance(awsemu.InstanceSpec{
			Name: o.name, SubnetID: fleet.SubnetIDs[0], Volumes: 2,
			Tags: map[string]string{"App": o.app, "Env": "demo"},
		})
		if err != nil {
			return Story{}, fmt.Errorf("seed instance %s: %w", o.name, err)
		}
		s.Others = append(s.Others, in.ID)
	}
	leaked, err := emu.AddUser(awsemu.UserSpec{Name: "confluence-deploy", AccessKeys: 2, LoginProfile: true, MFADevices: 1,
		Tags: map[string]string{"App": "confluence"}})
	if err != nil {
		return Story{}, fmt.Errorf("seed the leaked user: %w", err)
	}
	s.LeakedUser, s.LeakedKeyID = leaked.Name, leaked.AccessKeys[0].ID
	bystander, err := emu.AddUser(awsemu.UserSpec{Name: "backup-bot", AccessKeys: 1})
	if err != nil {
		return Story{}, fmt.Errorf("seed the bystander user: %w", err)
	}
	s.BystanderUser = bystander.Name
	return s, nil
}
