// Package source fetches a finding again from the service that reported
// it (GuardDuty, Security Hub, AWS Health), in the finding's account, and
// says whether what the source holds is the finding a caller was given.
// Both sides of a detection use it: the intake before any trigger
// decides on an event (whose body anyone who can post to it may have
// written), and the worker before a run the intake signed starts (whose
// findings are the word of a service that faces the internet). One
// comparison (Match) serves both, so the two can never disagree on what
// "the same finding" means. See docs/triggers.md, "Verified at the
// source" and "A run started from detections".
package source

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/guardduty"
	"github.com/aws/aws-sdk-go-v2/service/health"
	healthtypes "github.com/aws/aws-sdk-go-v2/service/health/types"
	"github.com/aws/aws-sdk-go-v2/service/securityhub"
	shtypes "github.com/aws/aws-sdk-go-v2/service/securityhub/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/cordon-ir/cordon/actions"
	"github.com/cordon-ir/cordon/runbooks"
	"github.com/cordon-ir/cordon/triggers"
)

// Source fetches a finding again from the service that reported it, in
// the finding's account: an event's body may be forged (anyone who can
// post to the HTTPS endpoint with its secret, or send to the queue) or
// stale (archived since), and a start the intake signed may carry what a
// thief of its key wrote; the source's answer is neither. The calls go
// through the worker configuration's account roles, endpoint and rate
// limits (actions.AWSClientSource).
type Source struct {
	aws Configs
	run actions.RunRef
	// detectors caches each account and region's GuardDuty detector:
	// GuardDuty has one per region, and it rarely changes.
	mu        sync.Mutex
	detectors map[string]string
}

// Configs gives the AWS configuration of an account and region, as the
// actions reach it (actions.AWSClientSource is one).
type Configs interface {
	Config(ctx context.Context, target actions.Target, run actions.RunRef) (aws.Config, error)
}

// New fetches findings through aws, in role sessions named after session
// ("intake" makes the intake's "cordon-intake", "verify" the worker's
// "cordon-verify"), so CloudTrail tells them from the runs' calls.
func New(aws Configs, session string) *Source {
	return &Source{aws: aws, run: actions.RunRef{RunID: session}, detectors: map[string]string{}}
}

// Fetch returns what the source holds of the finding f, named account in
// the worker configuration: one finding for GuardDuty and Security Hub,
// one per affected entity for a Health event; none when the source does
// not return it. The findings are normalised as events are (package
// triggers), so keys and fields compare. An error is the call's: try
// again later.
func (s *Source) Fetch(ctx context.Context, account string, f triggers.Finding) ([]triggers.Finding, error) {
	switch f.Source {
	case runbooks.SourceGuardDuty:
		return s.guardDuty(ctx, account, f)
	case runbooks.SourceSecurityHub:
		return s.securityHub(ctx, account, f)
	case runbooks.SourceHealth:
		return s.health(ctx, account, f)
	}
	return nil, fmt.Errorf("fetch finding %s: no source API for %q", f.Key, f.Source)
}

func (s *Source) config(ctx context.Context, account, region string) (aws.Config, error) {
	cfg, err := s.aws.Config(ctx, actions.Target{Account: account, Region: region}, s.run)
	if err != nil {
		return aws.Config{}, fmt.Errorf("reach account %s in %s: %w", orDefault(account), region, err)
	}
	return cfg, nil
}

// guardDuty asks the account's detector in the finding's region for it
// (GetFindings; ListDetectors once).
func (s *Source) guardDuty(ctx context.Context, account string, f triggers.Finding) ([]triggers.Finding, error) {
	cfg, err := s.config(ctx, account, f.Region)
	if err != nil {
		return nil, err
	}
	c := guardduty.NewFromConfig(cfg)
	detector, err := s.detector(ctx, c, f.Account, f.Region)
	if err != nil || detector == "" {
		return nil, err
	}
	out, err := c.GetFindings(ctx, &guardduty.GetFindingsInput{DetectorId: aws.String(detector), FindingIds: []string{f.ID}})
	if err != nil {
		// The detector may be gone (GuardDuty disabled and enabled
		// again): ask for it afresh next time.
		s.forgetDetector(f.Account, f.Region)
		return nil, fmt.Errorf("GuardDuty GetFindings %s in %s %s: %w", f.ID, f.Account, f.Region, err)
	}
	return fetched(out.Findings, triggers.ParseGuardDutyFinding)
}

// detector is the account's GuardDuty detector in region ("" for none).
func (s *Source) detector(ctx context.Context, c *guardduty.Client, account, region string) (string, error) {
	key := account + "/" + region
	s.mu.Lock()
	id, ok := s.detectors[key]
	s.mu.Unlock()
	if ok {
		return id, nil
	}
	out, err := c.ListDetectors(ctx, &guardduty.ListDetectorsInput{})
	if err != nil {
		return "", fmt.Errorf("GuardDuty ListDetectors in %s %s: %w", account, region, err)
	}
	if len(out.DetectorIds) > 0 {
		id = out.DetectorIds[0]
		s.mu.Lock()
		s.detectors[key] = id
		s.mu.Unlock()
	}
	return id, nil
}

func (s *Source) forgetDetector(account, region string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.detectors, account+"/"+region)
}

// securityHub asks Security Hub in the finding's account and region for
// the finding by its Id and ProductArn, whatever its state (the drop rules
// judge that).
func (s *Source) securityHub(ctx context.Context, account string, f triggers.Finding) ([]triggers.Finding, error) {
	if f.ProductARN == "" {
		return nil, fmt.Errorf("fetch Security Hub finding %s: it has no ProductArn", f.ID)
	}
	cfg, err := s.config(ctx, account, f.Region)
	if err != nil {
		return nil, err
	}
	eq := func(v string) []shtypes.StringFilter {
		return []shtypes.StringFilter{{Comparison: shtypes.StringFilterComparisonEquals, Value: aws.String(v)}}
	}
	out, err := securityhub.NewFromConfig(cfg).GetFindings(ctx, &securityhub.GetFindingsInput{
		Filters: &shtypes.AwsSecurityFindingFilters{Id: eq(f.ID), ProductArn: eq(f.ProductARN)}, MaxResults: aws.Int32(1)})
	if err != nil {
		return nil, fmt.Errorf("Security Hub GetFindings %s in %s %s: %w", f.ID, f.Account, f.Region, err)
	}
	return fetched(out.Findings, triggers.ParseASFFFinding)
}

// health asks AWS Health, in the affected account, for the event
// (DescribeEventDetails) and its affected entities
// (DescribeAffectedEntities).
func (s *Source) health(ctx context.Context, account string, f triggers.Finding) ([]triggers.Finding, error) {
	cfg, err := s.config(ctx, account, healthRegion(f.ID))
	if err != nil {
		return nil, err
	}
	c := health.NewFromConfig(cfg)
	out, err := c.DescribeEventDetails(ctx, &health.DescribeEventDetailsInput{EventArns: []string{f.ID}})
	if err != nil {
		return nil, fmt.Errorf("Health DescribeEventDetails %s in %s: %w", f.ID, f.Account, err)
	}
	// An event Health does not know is in failedSet, never an error.
	if len(out.SuccessfulSet) == 0 || out.SuccessfulSet[0].Event == nil {
		return nil, nil
	}
	d := out.SuccessfulSet[0]
	e := triggers.HealthEvent{Arn: aws.ToString(d.Event.Arn), Service: aws.ToString(d.Event.Service),
		EventTypeCode: aws.ToString(d.Event.EventTypeCode), StatusCode: string(d.Event.StatusCode), Region: aws.ToString(d.Event.Region),
		StartTime: aws.ToTime(d.Event.StartTime), LastUpdatedTime: aws.ToTime(d.Event.LastUpdatedTime), Account: f.Account}
	if d.EventDescription != nil {
		e.Description = aws.ToString(d.EventDescription.LatestDescription)
	}
	pages := health.NewDescribeAffectedEntitiesPaginator(c, &health.DescribeAffectedEntitiesInput{
		Filter: &healthtypes.EntityFilter{EventArns: []string{f.ID}}})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("Health DescribeAffectedEntities %s in %s: %w", f.ID, f.Account, err)
		}
		for _, en := range page.Entities {
			if v := aws.ToString(en.EntityValue); v != "" {
				e.Entities = append(e.Entities, v)
			}
		}
	}
	fs, err := triggers.ParseHealthEvent(e)
	if err != nil {
		return nil, fmt.Errorf("the Health event %s as the API describes it: %w", f.ID, err)
	}
	return fs, nil
}

// healthRegion is where Health is called for an event: its global
// endpoint lives in us-east-1 (aws-cn: cn-northwest-1, aws-us-gov:
// us-gov-west-1), whatever the event's region.
func healthRegion(eventARN string) string {
	switch {
	case strings.HasPrefix(eventARN, "arn:aws-cn:"):
		return "cn-northwest-1"
	case strings.HasPrefix(eventARN, "arn:aws-us-gov:"):
		return "us-gov-west-1"
	}
	return "us-east-1"
}

// fetched normalises what an API answered: the SDK's finding as JSON, read
// by the normaliser of the event's shape.
func fetched[T any](found []T, parse func([]byte) (triggers.Finding, error)) ([]triggers.Finding, error) {
	out := make([]triggers.Finding, 0, len(found))
	for _, v := range found {
		b, err := json.Marshal(v)
		if err != nil {
			return nil, fmt.Errorf("read the source's finding: %w", err)
		}
		f, err := parse(b)
		if err != nil {
			return nil, fmt.Errorf("the source's finding: %w", err)
		}
		out = append(out, f)
	}
	return out, nil
}

func orDefault(account string) string {
	if account == "" {
		return "(the configuration's own)"
	}
	return account
}

// Accounts maps a finding's 12-digit account to the account name the
// worker configuration reaches it by (aws.accounts).
type Accounts struct {
	names map[string]string
}

// NewAccounts maps ids to names ("" names the worker's own credentials:
// a configuration without aws.accounts).
func NewAccounts(ids map[string]string) Accounts {
	return Accounts{names: ids}
}

// OwnAccount is the account cfg's credentials are in (sts:GetCallerIdentity):
// the one account a configuration without aws.accounts covers.
func OwnAccount(ctx context.Context, cfg aws.Config) (string, error) {
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	who, err := sts.NewFromConfig(cfg).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		return "", fmt.Errorf("learn the own account (no aws.accounts is configured): sts:GetCallerIdentity: %w", err)
	}
	return aws.ToString(who.Account), nil
}

// Name is the configured name of account id, and whether any entry
// covers it.
func (a Accounts) Name(id string) (string, bool) {
	name, ok := a.names[id]
	return name, ok
}
