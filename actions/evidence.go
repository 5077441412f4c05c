package actions

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"

	"go.temporal.io/sdk/temporal"

	"github.com/cordon-ir/cordon/actions/wire"
	"github.com/cordon-ir/cordon/evidence"
)

// The evidence store (package evidence), as the actions reach it: the
// bucket the worker configuration's evidence section names, written as
// the forensic account's role (evidence.account, from aws.accounts), with
// a session name that carries the run id like every other call.

// evidenceStore is the configured store, reached for this run; nil when
// the worker has no evidence section.
func (x *execution) evidenceStore(ctx context.Context) (*evidence.Store, error) {
	cfg := x.rt.opts.Evidence
	if !cfg.Enabled() {
		return nil, nil
	}
	clients, err := x.rt.opts.Clients.Clients(ctx, Target{Account: cfg.Account, Region: cfg.Region}, x.call.Run)
	if err != nil {
		return nil, badParams(x.call.Action, fmt.Errorf("the evidence store (evidence.account %q): %w", cfg.Account, err))
	}
	return evidence.New(clients.S3, cfg, x.rt.opts.Clock), nil
}

// evidenceItem completes an artefact's description with what the call
// knows: the case (the run's incident, else its run id), the run, step
// and approvers, and the action.
func (x *execution) evidenceItem(it evidence.Item) evidence.Item {
	if it.Case == "" {
		it.Case = evidence.CaseOf(x.call.Run)
	}
	it.Run, it.Action = x.call.Run, x.call.Action
	return it
}

// recordArtefact lists an artefact in the result, for the run's record
// and the report's chain of custody.
func (x *execution) recordArtefact(a wire.Artefact) {
	x.res.Artefacts = append(x.res.Artefacts, a)
}

// keepEvidence stores body as an artefact of this step in the evidence
// store, records it in the result and returns it. A retried attempt that
// finds it stored already says so and writes nothing. Nothing is written
// in a preview (it notes where the artefact would go), nor without a
// store (it notes that the evidence is only in the run's record); both
// return nil.
func (x *execution) keepEvidence(ctx context.Context, it evidence.Item, body []byte) (*wire.Artefact, error) {
	store, err := x.evidenceStore(ctx)
	if err != nil || store == nil {
		if err == nil {
			x.note("no evidence store is configured (evidence in the worker configuration): the %s of %s is kept in the run's record only", it.Kind, orCase(it.Subject))
		}
		return nil, err
	}
	it = x.evidenceItem(it)
	what := fmt.Sprintf("store the %s of %s as evidence", it.Kind, orCase(it.Subject))
	if x.preview() {
		if note, err := store.Check(ctx); err != nil {
			return nil, evidenceError(what, store, err)
		} else if note != "" {
			x.note("%s", note)
		}
		x.note("a real run stores the %s (%d bytes now) in s3://%s/%s", it.Kind, len(body), store.Bucket(), store.Key(it))
		return nil, nil
	}
	a, stored, err := store.Put(ctx, it, body)
	if err != nil {
		return nil, evidenceError(what, store, err)
	}
	if !stored {
		x.note("the %s of %s was stored already: %s (sha256 %s)", it.Kind, orCase(it.Subject), a.Location(), a.SHA256)
	}
	x.recordArtefact(a)
	return &a, nil
}

// keepEvidenceIfYouCan is keepEvidence for what is evidence as well as
// the action's output (a describe result, console output): the output is
// in the run's record whatever happens, so a store that refuses or denies
// the write is a note, not a failed step. A transient failure is still an
// error, for Temporal to retry.
func (x *execution) keepEvidenceIfYouCan(ctx context.Context, it evidence.Item, body []byte) error {
	if !x.rt.opts.Evidence.Enabled() {
		return nil // the output is the record; nothing to say about a store nobody configured
	}
	_, err := x.keepEvidence(ctx, it, body)
	var ae *temporal.ApplicationError
	if err != nil && errors.As(err, &ae) && ae.NonRetryable() {
		x.note("not stored in the evidence store (the output above is in the run's record): %v", err)
		return nil
	}
	return err
}

func orCase(subject string) string {
	if subject == "" {
		return "the case"
	}
	return subject
}

// evidenceError classifies a failure of the store: an S3 call that failed
// names the permission the evidence store's role lacks; a refusal (no
// Object Lock, a host's upload that does not hash as it said) fails for
// good with the store's reason.
func evidenceError(what string, store *evidence.Store, err error) error {
	var refusal *evidence.Refusal
	if errors.As(err, &refusal) {
		return temporal.NewNonRetryableApplicationError(what+": "+refusal.Reason, ErrConflict, err)
	}
	var op *evidence.OpError
	if !errors.As(err, &op) {
		return classify(what, "the evidence store", err)
	}
	c := classify(fmt.Sprintf("%s: %s s3://%s/%s", what, op.Op, op.Bucket, op.Key), op.Permission, op.Err)
	var ae *temporal.ApplicationError
	if errors.As(c, &ae) && ae.Type() == ErrAccessDenied {
		return temporal.NewNonRetryableApplicationError(fmt.Sprintf(
			"%s: access denied to %s on evidence bucket %s: add %s to the policy of the evidence store's role (evidence.account) and, "+
				"when the bucket is in another account, to the bucket policy (cordon policy prints both)", what, op.Permission, store.Bucket(), op.Permission),
			ErrAccessDenied, err)
	}
	return c
}

// sha256Hex is the hex SHA-256 of b, the form evidence hashes are
// recorded in.
func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
