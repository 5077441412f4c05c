package intake

import (
	"fmt"
	"slices"
	"strings"

	"github.com/cordon-ir/cordon/runbooks"
)

// PolicyOptions scope the intake's policy.
type PolicyOptions struct {
	// Partition is aws, aws-cn, aws-us-gov...; default aws.
	Partition string
	// AccountID is the account the intake's role (or, with aws.accounts
	// roles, each account's role) reads findings in; default *.
	AccountID string
	// QueueARN is the queue the EventBridge rule targets; default any
	// queue of AccountID.
	QueueARN string
}

// permission is one call the intake makes, and where IAM lets it be
// granted.
type permission struct {
	// source is the trigger source that needs it ("" for the queue).
	source, action, resource string
}

// intakePermissions are every call the intake makes, scoped as the
// Service Authorization Reference allows: the queue (ReceiveMessage,
// DeleteMessage through DeleteMessageBatch, GetQueueAttributes at start),
// and the source reads (runbooks.SourceReads, which the worker's role
// needs too). The loop never changes a message's visibility:
// sqs:ChangeMessageVisibility is not needed.
func intakePermissions(o PolicyOptions) []permission {
	queue := o.QueueARN
	if queue == "" {
		queue = fmt.Sprintf("arn:%s:sqs:*:%s:*", o.Partition, o.AccountID)
	}
	out := []permission{
		{"", "sqs:ReceiveMessage", queue},
		{"", "sqs:DeleteMessage", queue},
		{"", "sqs:GetQueueAttributes", queue},
	}
	rep := strings.NewReplacer("${Partition}", o.Partition, "${Account}", o.AccountID)
	for _, r := range runbooks.SourceReads() {
		out = append(out, permission{r.Source, r.Action, rep.Replace(r.Resource)})
	}
	return out
}

// Policy is the least-privilege IAM policy of the intake's role for the
// triggers of plans: the queue, and the source reads of the sources the
// triggers read (a runbook set with only GuardDuty triggers grants no
// Security Hub or Health read). Statements: CordonIntakeQueue,
// CordonIntakeFindings (one per resource), CordonIntakeListDetectors.
// With aws.accounts roles, the reads run under each account's role, which
// then needs the CordonIntakeFindings statements (the intake's role needs
// sts:AssumeRole on those roles, as a worker's does).
func Policy(o PolicyOptions, plans ...*runbooks.Plan) runbooks.IAMPolicy {
	if o.Partition == "" {
		o.Partition = "aws"
	}
	if o.AccountID == "" {
		o.AccountID = "*"
	}
	sources := map[string]bool{"": true}
	for _, s := range runbooks.TriggerSources(plans...) {
		sources[s] = true
	}
	doc := runbooks.IAMPolicy{Version: "2012-10-17"}
	byResource := map[string]int{}
	for _, perm := range intakePermissions(o) {
		if !sources[perm.source] {
			continue
		}
		i, ok := byResource[perm.resource]
		if !ok {
			sid := "CordonIntakeFindings"
			switch {
			case perm.source == "":
				sid = "CordonIntakeQueue"
			case perm.resource == "*":
				sid = "CordonIntakeListDetectors"
			}
			if n := countSid(doc, sid); n > 0 {
				sid += fmt.Sprint(n + 1)
			}
			doc.Statement = append(doc.Statement, runbooks.IAMStatement{Sid: sid, Effect: "Allow", Resource: runbooks.Strings{perm.resource}})
			i = len(doc.Statement) - 1
			byResource[perm.resource] = i
		}
		doc.Statement[i].Action = append(doc.Statement[i].Action, perm.action)
	}
	return doc
}

func countSid(doc runbooks.IAMPolicy, prefix string) int {
	return len(slices.DeleteFunc(slices.Clone(doc.Statement), func(s runbooks.IAMStatement) bool {
		return len(s.Sid) < len(prefix) || s.Sid[:len(prefix)] != prefix
	}))
}
