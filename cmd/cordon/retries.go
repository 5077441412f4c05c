package main

import (
	"context"
	"fmt"
	"io"

	"go.temporal.io/sdk/client"

	"github.com/cordon-ir/cordon/runctl"
)

// printRetries writes one line per action of the run being retried; a run
// Temporal cannot describe (closed, or not reachable) prints nothing.
func printRetries(ctx context.Context, w io.Writer, cl client.Client, runID string) {
	rs, err := runctl.Retries(ctx, cl, runID)
	if err != nil {
		return
	}
	for _, r := range rs {
		fmt.Fprintf(w, "retrying %s\n", r)
	}
}
