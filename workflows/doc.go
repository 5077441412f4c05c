// Package workflows is the runbook interpreter: the Temporal workflow
// "Runbook" that executes a compiled Plan step by step, the approval gates
// that hold destructive steps until authorised people approve them, the
// CSIRT's controls over a running containment (pause, resume, skip,
// abort, break-glass approval), and the timeline that becomes the
// post-incident record.
//
// It must not do I/O: everything that touches the world is an activity
// (the actions, loading the roster, notifying people). All of it is
// deterministic so a crashed worker replays the history and resumes where
// it stopped; changes to the command sequence go behind workflow.GetVersion.
package workflows
