package worker

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"

	"github.com/cordon-ir/cordon/actions"
	"github.com/cordon-ir/cordon/evidence"
)

// LoadAWSConfig loads the worker's (or the intake's) own AWS credentials
// the standard way (environment, shared config, instance or task role).
func LoadAWSConfig(ctx context.Context, region string) (aws.Config, error) {
	var opts []func(*awsconfig.LoadOptions) error
	if region != "" {
		opts = append(opts, awsconfig.WithRegion(region))
	}
	cfg, err := awsconfig.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return aws.Config{}, fmt.Errorf("load AWS credentials: %w", err)
	}
	return cfg, nil
}

// EvidenceStore is the configuration's evidence store, reached as the
// forensic account's role (evidence.account) with the worker's own
// credentials, for `cordon evidence verify`. Its session is named for
// what it does, so that CloudTrail shows who read the evidence.
func EvidenceStore(ctx context.Context, cfg *Config, purpose string) (*evidence.Store, error) {
	if !cfg.Evidence.Enabled() {
		return nil, errors.New("the configuration has no evidence section: name the evidence bucket and the forensic account (docs/forensics.md)")
	}
	source, err := NewAWSClientSource(ctx, cfg, nil, nil)
	if err != nil {
		return nil, err
	}
	clients, err := source.Clients(ctx, actions.Target{Account: cfg.Evidence.Account, Region: cfg.Evidence.Region}, actions.RunRef{RunID: purpose})
	if err != nil {
		return nil, fmt.Errorf("reach the evidence store: %w", err)
	}
	return evidence.New(clients.S3, cfg.Evidence, nil), nil
}

// CheckEvidenceStore is the start-up check of the evidence store, beside
// the AWS access check: the configured bucket is reached as the forensic
// account's role and judged as every action that writes to it will judge
// it (Object Lock present, some retention that locks what is written).
// A store the configuration accepts with a caveat (object_lock: optional
// on an unlocked bucket) returns the caveat, for the log. No evidence
// section: nothing to check.
func CheckEvidenceStore(ctx context.Context, cfg *Config) (caveat string, err error) {
	if !cfg.Evidence.Enabled() {
		return "", nil
	}
	ctx, cancel := context.WithTimeout(ctx, AccessCheckTimeout)
	defer cancel()
	store, err := EvidenceStore(ctx, cfg, "preflight")
	if err != nil {
		return "", err
	}
	caveat, err = store.Check(ctx)
	if err != nil {
		return "", fmt.Errorf("evidence bucket %s: %w", cfg.Evidence.Bucket, err)
	}
	return caveat, nil
}
