package slack

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	slackapi "github.com/slack-go/slack"

	"github.com/cordon-ir/cordon/actions/wire"
	"github.com/cordon-ir/cordon/report"
	"github.com/cordon-ir/cordon/runbooks"
	"github.com/cordon-ir/cordon/workflows"
)

// Action ids of the gate buttons and the deny modal.
const (
	actionApprove = "cordon_approve"
	actionDeny    = "cordon_deny"
	callbackDeny  = "cordon_deny_reason"
	blockReason   = "reason"
	blockGate     = "cordon_gate"
)

// Slack's limits that the builders respect (Block Kit rejects more).
const (
	maxSectionText = 3000
	maxHeaderText  = 150
	maxChangeLines = 20
	maxValueText   = 120
)

// GateRef names one gate of one run at one preview: what a button click
// decides. It travels in the button's value, so a click carries
// everything the request needs and the gateway keeps no state for it.
type GateRef struct {
	RunID       string `json:"r"`
	Step        string `json:"s"`
	Item        int    `json:"i,omitempty"`
	PreviewHash string `json:"h"`
}

// key is the gate's identity within a run, as the workflow names it.
func (g GateRef) key() string {
	if g.Item > 0 {
		return fmt.Sprintf("%s/%s#%d", g.RunID, g.Step, g.Item)
	}
	return g.RunID + "/" + g.Step
}

func (g GateRef) encode() string {
	b, _ := json.Marshal(g) // strings and an int: cannot fail
	return string(b)
}

func decodeGateRef(s string) (GateRef, error) {
	var g GateRef
	if err := json.Unmarshal([]byte(s), &g); err != nil {
		return g, fmt.Errorf("gate reference: %w", err)
	}
	if g.RunID == "" || g.Step == "" || g.PreviewHash == "" || g.Item < 0 {
		return g, fmt.Errorf("gate reference is incomplete")
	}
	return g, nil
}

// People resolves roster member ids to Slack user ids for mentions.
type People map[string]string

// mention is <@U…> for a member with a Slack id, the bare id otherwise.
func (p People) mention(member string) string {
	if id := p[member]; id != "" {
		return "<@" + escape(id) + ">"
	}
	return escape(member)
}

// PeopleFromRoster maps member ids to Slack ids.
func PeopleFromRoster(r workflows.Roster) People {
	p := People{}
	for _, m := range r.Members {
		if m.SlackID != "" {
			p[m.ID] = m.SlackID
		}
	}
	return p
}

// Leads are the members a gate escalates to: in one of the groups, or
// named, in roster order.
func Leads(r workflows.Roster, to runbooks.Approvers) []string {
	var ids []string
	for _, m := range r.Members {
		named := slices.Contains(to.People, m.ID)
		grouped := slices.ContainsFunc(m.Groups, func(g string) bool { return slices.Contains(to.Groups, g) })
		if named || grouped {
			ids = append(ids, m.ID)
		}
	}
	return ids
}

// Message is a Slack message: blocks, and the text notifications and
// screen readers show.
type Message struct {
	Text   string
	Blocks []slackapi.Block
}

// escape neutralises Slack's control characters in text that comes from
// runbooks, AWS or people, so a resource name cannot become <!channel>.
func escape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

func truncate(s string, n int) string {
	if len([]rune(s)) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

func mrkdwn(s string) *slackapi.TextBlockObject {
	return slackapi.NewTextBlockObject(slackapi.MarkdownType, truncate(s, maxSectionText), false, false)
}

func plain(s string) *slackapi.TextBlockObject {
	return slackapi.NewTextBlockObject(slackapi.PlainTextType, s, false, false)
}

// slackDate renders t in each reader's own time zone, with a UTC fallback.
func slackDate(t time.Time) string {
	return fmt.Sprintf("<!date^%d^{date_short_pretty} {time}|%s>", t.Unix(), t.UTC().Format(time.RFC3339))
}

func stepTitle(n workflows.GateNotice) string {
	title := n.Step
	if n.StepName != "" {
		title = n.StepName
	}
	if n.Item > 0 {
		title = fmt.Sprintf("%s (item %d)", title, n.Item)
	}
	return title
}

// Targets are the resources a change touches, in first-seen order.
func Targets(changes []wire.Change) []string {
	var out []string
	for _, c := range changes {
		if c.Resource != "" && !slices.Contains(out, c.Resource) {
			out = append(out, c.Resource)
		}
	}
	return out
}

// PreviewLines renders each change as `resource` field: before → after,
// at most maxChangeLines of them.
func PreviewLines(changes []wire.Change) []string {
	var lines []string
	for i, c := range changes {
		if i == maxChangeLines {
			lines = append(lines, fmt.Sprintf("…and %d more change(s)", len(changes)-maxChangeLines))
			break
		}
		lines = append(lines, fmt.Sprintf("`%s` %s: %s → %s", escape(c.Resource), escape(c.Field), valueText(c.Before), valueText(c.After)))
	}
	return lines
}

func valueText(v any) string {
	if v == nil {
		return "_none_"
	}
	var s string
	if str, ok := v.(string); ok {
		s = str
	} else if b, err := json.Marshal(v); err == nil {
		s = string(b)
	} else {
		s = fmt.Sprint(v)
	}
	// Backticks inside the value would end the code span early.
	return "`" + escape(strings.ReplaceAll(truncate(s, maxValueText), "`", "'")) + "`"
}

// outcome is the line that says how a gate stands.
func outcome(n workflows.GateNotice, people People) (emoji, headline, detail string) {
	g := n.Gate
	switch n.Kind {
	case workflows.NoticeApproved:
		var who []string
		for _, a := range g.Approvals {
			w := people.mention(a.Actor)
			if a.BreakGlass {
				w += " (break-glass)"
			}
			who = append(who, w)
		}
		at := ""
		if len(g.Approvals) > 0 {
			at = " at " + slackDate(g.Approvals[len(g.Approvals)-1].Time)
		}
		return ":white_check_mark:", "Approved", fmt.Sprintf("Approved by %s%s", strings.Join(who, ", "), at)
	case workflows.NoticeDenied:
		d := "Denied by " + people.mention(g.DecidedBy)
		if g.DecidedBy == "" {
			d = "Denied"
		}
		if g.Reason != "" {
			d += ": " + escape(g.Reason)
		}
		return ":no_entry:", "Denied", d
	case workflows.NoticeSkipped:
		return ":fast_forward:", "Skipped", fmt.Sprintf("Skipped by %s: %s", people.mention(g.DecidedBy), escape(g.Reason))
	case workflows.NoticeTimedOut:
		return ":hourglass:", "Timed out", "No decision in time — denied (a gate never approves by default)"
	case workflows.NoticeEscalated:
		return ":rotating_light:", "Escalated", fmt.Sprintf("No decision in time — escalated to %s until %s", escape(n.To.String()), slackDate(g.Deadline))
	}
	return ":lock:", "Approval needed", ""
}

// GateMessage is the message for a gate notice: what will change, who
// asked, who may decide, and (while the gate waits) Approve / Deny
// buttons bound to the exact preview.
func GateMessage(n workflows.GateNotice, people People) Message {
	g := n.Gate
	emoji, headline, detail := outcome(n, people)
	waiting := n.Kind == workflows.NoticeWaiting || n.Kind == workflows.NoticeEscalated
	title := truncate(fmt.Sprintf("%s: %s", headline, stepTitle(n)), maxHeaderText)

	incident := n.Incident
	if incident == "" {
		incident = "—"
	}
	approvers := g.Approvers.String()
	if g.Escalated && len(n.To.Groups)+len(n.To.People) > 0 && n.Kind == workflows.NoticeEscalated {
		// After escalation both the approvers and the escalation targets
		// may decide (the validator's rule); say so.
		approvers += "; escalated to " + n.To.String()
	}
	fields := []*slackapi.TextBlockObject{
		mrkdwn("*Incident*\n" + escape(incident)),
		mrkdwn("*Runbook*\n" + escape(n.Runbook)),
		mrkdwn("*Run*\n`" + escape(n.RunID) + "`"),
		mrkdwn(fmt.Sprintf("*Step*\n%s (`%s`)", escape(n.Step), escape(n.Action))),
		mrkdwn("*Requested by*\n" + people.mention(n.Requester)),
		mrkdwn(fmt.Sprintf("*Approvals*\n%d of %d", len(g.Approvals), g.MinApprovals)),
		mrkdwn("*Approvers*\n" + escape(approvers)),
		mrkdwn("*Deadline*\n" + slackDate(g.Deadline)),
	}
	blocks := []slackapi.Block{
		slackapi.NewHeaderBlock(plain(emoji + " " + title)),
		slackapi.NewSectionBlock(nil, fields, nil),
	}
	if detail != "" {
		blocks = append(blocks, slackapi.NewSectionBlock(mrkdwn(emoji+" "+detail), nil, nil))
	}
	if d := n.Detection; d != nil {
		blocks = append(blocks, slackapi.NewSectionBlock(mrkdwn(detectionText(*d)), nil, nil))
	}
	if targets := Targets(n.Changes); len(targets) > 0 {
		quoted := make([]string, len(targets))
		for i, t := range targets {
			quoted[i] = "`" + escape(t) + "`"
		}
		blocks = append(blocks, slackapi.NewSectionBlock(mrkdwn("*Targets*\n"+strings.Join(quoted, ", ")), nil, nil))
	}
	preview := "*Change preview* (before → after)\n"
	if lines := PreviewLines(n.Changes); len(lines) > 0 {
		preview += strings.Join(lines, "\n")
	} else {
		preview += "_no change: the resources are already in the target state_"
	}
	blocks = append(blocks, slackapi.NewSectionBlock(mrkdwn(preview), nil, nil))
	blocks = append(blocks, slackapi.NewContextBlock("", mrkdwn(fmt.Sprintf("Preview `%s` — a decision binds to this exact change; if the world moves, Cordon asks again.", shortHash(g.PreviewHash)))))
	if waiting {
		ref := GateRef{RunID: n.RunID, Step: n.Step, Item: n.Item, PreviewHash: g.PreviewHash}.encode()
		approve := slackapi.NewButtonBlockElement(actionApprove, ref, plain("Approve")).WithStyle(slackapi.StylePrimary)
		approve.Confirm = slackapi.NewConfirmationBlockObject(plain("Approve this change?"),
			mrkdwn(truncate(fmt.Sprintf("%s on %d resource(s), run `%s`.", escape(n.Action), len(Targets(n.Changes)), escape(n.RunID)), 300)),
			plain("Approve"), plain("Cancel"))
		deny := slackapi.NewButtonBlockElement(actionDeny, ref, plain("Deny…")).WithStyle(slackapi.StyleDanger)
		blocks = append(blocks, slackapi.NewActionBlock(blockGate, approve, deny))
	}
	text := fmt.Sprintf("%s: %s (%s) in run %s", headline, stepTitle(n), n.Action, n.RunID)
	return Message{Text: escape(text), Blocks: blocks}
}

// detectionText says what detected the run and how long it took from the
// finding to this gate: detection → gate is the clock a triggered run is
// judged by.
func detectionText(d workflows.Detection) string {
	what := fmt.Sprintf("%d finding(s)", d.Findings)
	if d.Type != "" {
		what += ", `" + escape(d.Type) + "`"
	}
	if d.Severity != "" {
		what += " (" + escape(d.Severity) + ")"
	}
	t := report.Timings{FindingCreated: d.Created, Received: d.Received, Started: d.Started, FirstGate: d.GateWaiting}
	return fmt.Sprintf("*Detected* by trigger `%s` (%s): %s\n%s", escape(d.Trigger), escape(d.Mode), what, escape(t.Line()))
}

// EscalationMessage goes to the escalation channel: the gate message with
// the leads mentioned on top, so they can decide right there.
func EscalationMessage(n workflows.GateNotice, people People, leads []string) Message {
	m := GateMessage(n, people)
	mentions := make([]string, 0, len(leads))
	for _, id := range leads {
		mentions = append(mentions, people.mention(id))
	}
	who := strings.Join(mentions, " ")
	if who == "" {
		who = "_nobody in the roster is in " + escape(n.To.String()) + "_"
	}
	lead := slackapi.NewSectionBlock(mrkdwn(fmt.Sprintf(":rotating_light: %s — escalated: run `%s` waits at *%s* with no decision.", who, escape(n.RunID), escape(stepTitle(n)))), nil, nil)
	m.Blocks = append([]slackapi.Block{lead}, m.Blocks...)
	m.Text = fmt.Sprintf("Escalated: %s in run %s needs a decision", escape(stepTitle(n)), escape(n.RunID))
	return m
}

// ProgressText is the thread reply that records a gate's outcome under
// the run's first message.
func ProgressText(n workflows.GateNotice, people People) string {
	emoji, _, detail := outcome(n, people)
	if detail == "" {
		detail = fmt.Sprintf("Waiting for %d approval(s) from %s", n.Gate.MinApprovals, escape(n.Gate.Approvers.String()))
	}
	return fmt.Sprintf("%s *%s*: %s", emoji, escape(stepTitle(n)), detail)
}

// RunStartedText announces a run started from Slack; it becomes the
// thread the run's progress goes under.
func RunStartedText(runID, runbook, incident string, requester string, dryRun bool, people People) string {
	kind := "Run"
	if dryRun {
		kind = "Dry run (rehearsal, nothing changes)"
	}
	s := fmt.Sprintf(":arrow_forward: %s `%s` of *%s* started by %s", kind, escape(runID), escape(runbook), people.mention(requester))
	if incident != "" {
		s += " for " + escape(incident)
	}
	return s + ". Gates and progress follow in this thread."
}

// StatusText summarises a run for /cordon status.
func StatusText(s workflows.State, people People) string {
	var b strings.Builder
	paused := ""
	if s.Paused {
		paused = " (paused)"
	}
	fmt.Fprintf(&b, "*%s* `%s`: %s%s", escape(s.Runbook), escape(s.Meta.RunID), escape(string(s.Status)), paused)
	if s.Meta.Incident != "" {
		fmt.Fprintf(&b, " — %s", escape(s.Meta.Incident))
	}
	fmt.Fprintf(&b, "\nRequested by %s", people.mention(s.Meta.Requester))
	if s.Meta.DryRun {
		b.WriteString(" · dry run")
	}
	b.WriteString("\n")
	for _, st := range s.Steps {
		line := fmt.Sprintf("%s `%s` %s", stepEmoji(st.Status), escape(st.ID), escape(string(st.Status)))
		if st.Reason != "" {
			line += " — " + escape(truncate(st.Reason, 200))
		}
		b.WriteString(line + "\n")
	}
	for _, g := range s.Gates {
		if g.Status == workflows.GateWaiting {
			fmt.Fprintf(&b, ":lock: gate `%s` waits: %d of %d approval(s) from %s until %s\n",
				escape(g.Key), len(g.Approvals), g.MinApprovals, escape(g.Approvers.String()), slackDate(g.Deadline))
		}
	}
	return truncate(strings.TrimRight(b.String(), "\n"), maxSectionText)
}

func stepEmoji(status workflows.StepStatus) string {
	switch status {
	case workflows.StepSucceeded:
		return ":white_check_mark:"
	case workflows.StepRunning:
		return ":arrows_counterclockwise:"
	case workflows.StepAwaiting:
		return ":lock:"
	case workflows.StepHeld:
		return ":double_vertical_bar:"
	case workflows.StepFailed:
		return ":x:"
	case workflows.StepDenied:
		return ":no_entry:"
	case workflows.StepSkipped, workflows.StepCancelled:
		return ":heavy_minus_sign:"
	}
	return ":white_small_square:"
}

func shortHash(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}

// DenyModal asks for the reason of a denial. The gate and the clicked
// message travel in private_metadata, which Slack returns untouched.
func DenyModal(ref GateRef, channel, ts string) slackapi.ModalViewRequest {
	meta, _ := json.Marshal(denyMeta{Gate: ref, Channel: channel, TS: ts})
	input := slackapi.NewPlainTextInputBlockElement(plain("Why should this change not happen?"), blockReason)
	input.Multiline = true
	input.MaxLength = 500
	return slackapi.ModalViewRequest{
		Type:            slackapi.VTModal,
		Title:           plain("Deny change"),
		Submit:          plain("Deny"),
		Close:           plain("Cancel"),
		CallbackID:      callbackDeny,
		PrivateMetadata: string(meta),
		Blocks: slackapi.Blocks{BlockSet: []slackapi.Block{
			slackapi.NewSectionBlock(mrkdwn(fmt.Sprintf("Deny step *%s* of run `%s`. The reason goes into the incident report.", escape(ref.Step), escape(ref.RunID))), nil, nil),
			slackapi.NewInputBlock(blockReason, plain("Reason"), nil, input),
		}},
	}
}

// denyMeta is the deny modal's private_metadata.
type denyMeta struct {
	Gate    GateRef `json:"g"`
	Channel string  `json:"c,omitempty"`
	TS      string  `json:"t,omitempty"`
}
