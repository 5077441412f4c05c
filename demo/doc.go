// Package demo is `cordon demo`: the whole CVE-2021-26084 story on one
// machine, for someone evaluating Cordon with ten minutes and no AWS
// account. It owns the story's fleet (seeded into the wire-level AWS
// emulator), the orchestration (an in-process Temporal server, a worker,
// the fleet run and the leaked-key run, decisions at every gate), the
// progress views (live terminal, plain lines, JSON events) and the final
// check of what the emulator holds. The story starts where the incident
// did: GuardDuty's findings and AWS's abuse notice arrive on the
// emulator's SQS queue, and the detection intake (intake.Service, as
// cordon intake runs it, with a roster identity and a key of its own)
// verifies them at their source and launches the fleet run through the
// fleet runbook's trigger; a rehearsal decides them and rehearses that
// run, launching and deleting nothing.
//
// It adds no containment logic: the runbooks in examples/ and the real
// worker do the work, exactly as in production: signatures required (each
// start signed by the requester, each decision by the lead), and plans
// vouched for by the worker's runbook source (the examples directory).
// Only the AWS endpoint (the emulator) and the roster (keys generated for
// one demo) differ. Linking the Temporal server makes this package slow to
// build cold; only cmd/cordon imports it.
package demo
