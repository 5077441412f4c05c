// Package wire is the vocabulary the interpreter workflow and the action
// activities exchange: a call, its result, the changes it made or would
// make, where it runs, and the classes of failure. It has no dependencies
// (no AWS SDK, no Temporal), so the workflow and the report can speak it
// without linking the AWS implementations, which live in package actions.
package wire

import (
	"strconv"
	"time"
)

// Mode says whether an action changes the world or only previews the change.
type Mode string

// Modes.
const (
	// Execute makes the change.
	Execute Mode = "execute"
	// Preview reads the current state, sends EC2 mutations with DryRun=true
	// (so permissions are checked), and reports what would change. Gates
	// show previews to approvers; dry-run rehearsals run every step in it.
	Preview Mode = "preview"
)

// Call is one execution of an action, as the workflow sends it to the
// activity. It holds no secrets: credentials come from the worker's
// configuration, never from workflow history.
type Call struct {
	Action string         `json:"action"`
	Params map[string]any `json:"params"`
	Target Target         `json:"target"`
	Run    RunRef         `json:"run"`
	Mode   Mode           `json:"mode"`
}

// Target is where an action runs: an account name from the worker
// configuration and a region.
type Target struct {
	Account string `json:"account,omitempty"`
	Region  string `json:"region,omitempty"`
}

// RunRef identifies the run and step a call belongs to. Actions tag what
// they create with it, which is also how a retried attempt finds what an
// earlier attempt already made.
type RunRef struct {
	RunID     string `json:"run_id"`
	Incident  string `json:"incident,omitempty"`
	StepID    string `json:"step_id"`
	Requester string `json:"requester,omitempty"`
	// Item distinguishes the executions of a foreach step.
	Item int `json:"item,omitempty"`
	// StartedAt is when the run started (the workflow's clock), for
	// actions that need a time that stays the same across retries.
	StartedAt time.Time `json:"started_at"`
	// Approvers are who approved this step's gate (a lead's break-glass
	// marked so), empty for a step without a gate: the authority an
	// artefact of the step was collected under, for its chain of custody.
	Approvers []string `json:"approvers,omitempty"`
}

// Result is what an action reports back.
type Result struct {
	// Outputs match the action's declared outputs.
	Outputs map[string]any `json:"outputs"`
	// Changes are what the action changed (Execute) or would change
	// (Preview), each with its value before and after. An approver
	// approves exactly this list; the workflow hashes it.
	Changes []Change `json:"changes"`
	// RequestIDs are the AWS request ids of every call made, for the
	// record and for AWS support.
	RequestIDs []string `json:"request_ids,omitempty"`
	// Notes are facts worth a line in the report ("already isolated").
	Notes []string `json:"notes,omitempty"`
	// Attempt is the activity attempt that produced this result (1 = first).
	Attempt int32 `json:"attempt,omitempty"`
	// Artefacts are the evidence the action stored (or, in a preview,
	// found stored already) in the evidence store, as the case's manifest
	// lists them: the report's chain of custody reads them.
	Artefacts []Artefact `json:"artefacts,omitempty"`
}

// Artefact is one piece of evidence in the evidence store, as the case's
// manifest records it: what it is, where it is (bucket, key, version), its
// SHA-256 and size as Cordon computed them, and who collected it when,
// in which run and step, under whose approval.
type Artefact struct {
	// Case is the investigation the artefact belongs to: the run's
	// incident, else its run id.
	Case string `json:"case"`
	// Kind is what sort of evidence it is: memory, triage, describe,
	// console, cloudtrail, snapshots, ...
	Kind string `json:"kind"`
	// Subject is what it is evidence of: an instance id, a principal.
	Subject     string `json:"subject,omitempty"`
	Description string `json:"description,omitempty"`
	Bucket      string `json:"bucket"`
	Key         string `json:"key"`
	// VersionID is the S3 object version the manifest vouches for; a
	// later version of the same key is another artefact, not this one.
	VersionID string `json:"version_id,omitempty"`
	// SHA256 (hex) and Size are of the bytes stored, computed by Cordon
	// (never taken from the host that produced them).
	SHA256 string `json:"sha256"`
	Size   int64  `json:"size"`
	// ContentType is how to read it (text/plain, application/json, ...).
	ContentType string    `json:"content_type,omitempty"`
	CollectedAt time.Time `json:"collected_at"`
	// WrittenBy says who wrote the bytes to the store: "cordon" (the
	// worker, as the evidence store's role) or "instance" (the host
	// itself, through its SSM agent, as its instance profile's role).
	WrittenBy string `json:"written_by"`
	// Source is how it was obtained: the API call or SSM command.
	Source string `json:"source,omitempty"`
	// Lock is the Object Lock retention of the version (mode and until),
	// empty when the store has none.
	LockMode    string    `json:"lock_mode,omitempty"`
	RetainUntil time.Time `json:"retain_until,omitempty"`

	RunID     string   `json:"run_id"`
	Step      string   `json:"step"` // the step (and foreach item) key
	Action    string   `json:"action"`
	Requester string   `json:"requester,omitempty"`
	Approvers []string `json:"approvers,omitempty"`
}

// Location is the artefact's S3 address, version included.
func (a Artefact) Location() string {
	loc := "s3://" + a.Bucket + "/" + a.Key
	if a.VersionID != "" {
		loc += "?versionId=" + a.VersionID
	}
	return loc
}

// Change is one setting of one resource, before and after.
type Change struct {
	Resource string `json:"resource"`
	Field    string `json:"field"`
	Before   any    `json:"before"`
	After    any    `json:"after"`
}

// Failure classes, carried as the type of a Temporal application error.
// The workflow's retry policy and the report key on them.
const (
	ErrAccessDenied = "AccessDenied" // the worker role lacks a permission: fix IAM, do not retry
	ErrNotFound     = "NotFound"     // the resource does not exist: retrying will not create it
	ErrInvalid      = "InvalidRequest"
	ErrConflict     = "Conflict"  // the resource is in a state that forbids the change
	ErrThrottled    = "Throttled" // retry with backoff
	ErrAWSServer    = "AWSServerError"
	ErrBadParams    = "BadParameters"
)

// NonRetryable are the failure classes retrying cannot fix.
func NonRetryable() []string {
	return []string{ErrAccessDenied, ErrNotFound, ErrInvalid, ErrConflict, ErrBadParams}
}

// ItemKey names one execution of a step: the step id, and for a foreach
// step the item's number ("contain#2"). Gates, tags, the CLI and the
// demo all use this form.
func ItemKey(step string, item int) string {
	if item > 0 {
		return step + "#" + strconv.Itoa(item)
	}
	return step
}
