package intake

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
)

// Every id the intake uses is derived from what it is about, never drawn
// at random: a redelivery, a second intake process or a retried activity
// computes the same one, and Temporal's uniqueness of workflow ids does
// the rest.

// digest is the hex sha256 of the parts, joined by a separator no key
// contains.
func digest(parts ...string) string {
	sum := sha256.Sum256([]byte(strings.Join(parts, "\x00")))
	return hex.EncodeToString(sum[:])
}

// FindingWorkflowID is the workflow that handles finding key for a
// runbook: one per finding and runbook, whatever delivered it.
func FindingWorkflowID(runbook, key string) string {
	return "cordon-finding-" + digest(runbook, key)[:24]
}

// BatchWorkflowID is the workflow gathering the findings of a batch key
// (triggers.Batch.Key, which names the runbook and trigger) for the
// intake on taskQueue. The queue is part of it because a workflow stays on
// the queue it started on: an intake moved to another queue starts fresh
// batches rather than signal ones nobody polls any more.
func BatchWorkflowID(taskQueue, batchKey string) string {
	return "cordon-batch-" + digest(taskQueue, batchKey)[:24]
}

// BreakerWorkflowID is the circuit breaker of a runbook's trigger, for
// the intakes on taskQueue (see BatchWorkflowID).
func BreakerWorkflowID(taskQueue, runbook, trigger string) string {
	return "cordon-breaker-" + digest(taskQueue, runbook, trigger)[:24]
}

// findingRunID is the run that acts on finding key for runbook: it
// shares its digest with the finding workflow's id, so the two are easy
// to match.
func findingRunID(runbook, key string) string {
	return runbook + "-" + digest(runbook, key)[:12]
}

// batchRunID is the run of a batch, named after the batch and its first
// finding (a finding joins one batch only, so each batch has its own).
func batchRunID(runbook, batchKey, firstKey string) string {
	return runbook + "-batch-" + digest(batchKey, firstKey)[:12]
}

// attemptRunID is the run of a proposal's n-th launch: a refused launch
// leaves its run id spent.
func attemptRunID(base string, n int) string {
	if n <= 1 {
		return base
	}
	return fmt.Sprintf("%s-%d", base, n)
}

// incidentOf is the incident a triggered run records (on every resource
// it tags): the same for every runbook acting on the finding.
func incidentOf(keys ...string) string {
	return "det-" + digest(keys...)[:12]
}
