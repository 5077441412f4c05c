package workflows

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"go.temporal.io/sdk/temporal"
)

// Why this exists: a failed action's error, as Temporal hands it back, is
// the activity wrapper, then the action's own message, then the AWS SDK's
// error chain repeated once per wrapping layer — a kilobyte or more in
// status, --follow and the report, with the one useful sentence buried in
// it. A responder needs one line: what failed and what to do (the
// action's message says both), the error class, the AWS error code and the
// request id to quote to AWS support. The full chain stays in the record
// for the JSON report.

var (
	awsCodeRE   = regexp.MustCompile(`api error ([A-Za-z0-9.]+):`)
	requestIDRE = regexp.MustCompile(`RequestID: ([0-9A-Za-z-]+)`)
)

// maxErrorLine bounds the line; the full chain is kept beside it.
const maxErrorLine = 400

// errorSummary is the one line a responder reads of a failed action.
func errorSummary(err error) string {
	full := err.Error()
	var app *temporal.ApplicationError
	if !errors.As(err, &app) || app.Message() == "" {
		return clip(full)
	}
	var tags []string
	if t := app.Type(); t != "" {
		tags = append(tags, t)
	}
	if m := awsCodeRE.FindStringSubmatch(full); m != nil && !strings.Contains(app.Message(), m[1]) {
		tags = append(tags, "AWS "+m[1])
	}
	if m := requestIDRE.FindStringSubmatch(full); m != nil {
		tags = append(tags, "request "+m[1])
	}
	line := app.Message()
	if len(tags) > 0 {
		line = fmt.Sprintf("%s [%s]", line, strings.Join(tags, "; "))
	}
	return clip(line)
}

func clip(s string) string {
	if len(s) <= maxErrorLine {
		return s
	}
	return s[:maxErrorLine] + "… (the full error is in the JSON report)"
}
