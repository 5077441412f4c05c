package slack

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"

	slackapi "github.com/slack-go/slack"
)

// Replay protection. The threat: someone who captured a correctly signed
// Slack request (a proxy log, a compromised load balancer) sends it again
// while Slack's signature is still fresh (five minutes), to this gateway,
// to another replica, or to this one after a restart; or Slack itself
// delivers the same interaction twice. The same click must not count
// twice, the same /cordon pause must not pause the run again after
// someone resumed it, the same /cordon run must not start a second run.
//
// The defence is the workflow's, not the gateway's: every request the
// gateway signs carries a nonce derived from the Slack interaction itself,
// and a run refuses a nonce it has accepted before. A byte-identical
// delivery yields the same nonce (the body is what Slack signs, so an
// attacker cannot change it without breaking the signature), and the
// workflow refuses it as a repeat, whichever gateway process forwards it.
// A start's run id is derived the same way, so a repeated /cordon run
// names a run that already exists and Temporal refuses to start it again.
// The gateway keeps no memory of requests: nothing in it needs to survive
// a restart or be shared between replicas.
//
// What makes two genuine interactions differ is Slack's trigger_id (new
// for every click, submission and slash command), the action's action_ts,
// and a modal's view id and hash. The digest also covers the workspace,
// the user and what was asked, so that two people's clicks never collide.

// nonceVersion names the derivation, so a change to it cannot make an old
// nonce and a new one collide by accident.
const nonceVersion = "cordon-slack-nonce-v1"

// derive is "slack:" and the hex sha256 of the kind and fields, encoded
// as a JSON array so that no two field lists encode alike: 70 characters,
// within the workflow's bound on nonces.
func derive(kind string, fields ...string) string {
	b, _ := json.Marshal(append([]string{nonceVersion, kind}, fields...)) // strings always encode
	sum := sha256.Sum256(b)
	return "slack:" + hex.EncodeToString(sum[:])
}

// clickNonce is the nonce of a button click (block_actions).
func clickNonce(cb *slackapi.InteractionCallback, act *slackapi.BlockAction) string {
	return derive("block_actions", cb.Team.ID, cb.User.ID, cb.TriggerID, act.ActionTs, cb.ActionTs,
		cb.Container.ChannelID, cb.Container.MessageTs, act.BlockID, act.ActionID, act.Value)
}

// submissionNonce is the nonce of a modal's submission (view_submission).
// A modal is submitted once (the gateway closes it); its view id is new
// for every modal opened and its hash changes whenever it is updated.
func submissionNonce(cb *slackapi.InteractionCallback) string {
	return derive("view_submission", cb.Team.ID, cb.User.ID, cb.TriggerID, cb.View.ID, cb.View.Hash,
		cb.View.CallbackID, cb.View.PrivateMetadata)
}

// commandNonce is the nonce of a slash command. Its trigger_id is new for
// every invocation.
func commandNonce(sc slackapi.SlashCommand) string {
	return derive("slash_command", sc.TeamID, sc.UserID, sc.ChannelID, sc.TriggerID, sc.Command, sc.Text)
}

// startRunID names the run a /cordon run starts after its nonce: readable
// (the runbook's name), and the same for every delivery of one command,
// so Temporal refuses to start a repeated one (the run id is unique).
func startRunID(runbook, nonce string) string {
	h := nonce[len(nonce)-16:]
	return runbook + "-slack-" + h
}
