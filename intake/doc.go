// Package intake is the orchestration between a verified finding and the
// run it starts: once per finding under at-least-once delivery, storms
// gathered into one fleet run, a circuit breaker per trigger, and
// proposals a responder launches. It stands on Temporal's guarantees
// rather than locks of its own: a finding workflow whose id is derived
// from the finding key (signal-with-start, so two intake processes
// submitting the same finding reach the same workflow), a batch workflow
// per aggregation key, and a breaker workflow per trigger (update-with-
// start). See docs/triggers.md, "From a finding to a run".
//
// The run itself is started from an activity, signed with the intake's own
// key as the roster member with the intake role (or, for a proposal, with
// the responder's signature), as a top-level run: the containment
// workflow verifies the signature, the trigger and the findings against
// its own roster and plan, as it does for any start. A child workflow
// would be taken on its parent's word (workflows/authority.go), which the
// intake must not have.
//
// It owns the workflows on the intake's task queue (default
// cordon-intake), their activities (start, status, finding updates,
// notifications), the Launcher clients submit findings through, and the
// client side of proposals (cordon proposals, cordon launch). It does not
// read queues or HTTP, verify findings against their source, or decide
// what a finding matches (that is package triggers): its callers give it
// findings already verified and decided.
package intake
