// Package slack puts Cordon in the incident channel: it posts gate
// messages with Approve / Deny buttons and keeps them up to date
// (Notifier), and it turns Slack clicks and /cordon commands into
// requests signed with the gateway's key (Gateway), over HTTP or Socket
// Mode.
//
// It must not decide who is authorised. The gateway authenticates Slack
// (the request signature, the workspace) and maps a Slack user to a roster
// member; whether that member may approve, pause or abort is the
// workflow's validator's decision, and a refusal is passed back to the
// user as it is. The gateway turns away up front only what the workflow
// would refuse anyway: a Slack user who is no member, and an action the
// roster does not let the gateway's key sign (its scope).
//
// It must not hold security state. Each request it signs carries a nonce
// derived from the Slack interaction, and each start a run id derived the
// same way, so a repeated delivery (Slack's retry, a replay of a captured
// request, to any replica or after a restart) is refused by the run or by
// Temporal, never by a memory in this package (nonce.go).
//
// Secrets (the bot token, the signing secret, the app token) stay in this
// package's clients: they never go into requests, workflow inputs,
// results, errors or logs.
package slack
