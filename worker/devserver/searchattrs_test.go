package devserver_test

import (
	"context"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/cordon-ir/cordon/worker/devserver"
)

// Search attributes given in Options are registered: with a namespace the
// server creates, and added to one an existing DB file holds without them;
// a workflow can be started with them at once.
func TestSearchAttributesRegistered(t *testing.T) {
	attrs := map[string]enumspb.IndexedValueType{
		"CordonRunbook": enumspb.INDEXED_VALUE_TYPE_KEYWORD,
		"CordonTargets": enumspb.INDEXED_VALUE_TYPE_KEYWORD_LIST,
		"CordonDryRun":  enumspb.INDEXED_VALUE_TYPE_BOOL,
	}
	dbFile := t.TempDir() + "/dev.sqlite"
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	// A file made by a server that registered none.
	old, err := devserver.Start(ctx, devserver.Options{DBFile: dbFile, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	if err := old.Stop(); err != nil {
		t.Fatal(err)
	}
	for _, opts := range []devserver.Options{{SearchAttributes: attrs}, {DBFile: dbFile, SearchAttributes: attrs}} {
		s := startServer(t, opts)
		c := dial(t, s)
		resp, err := c.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: s.Namespace()})
		if err != nil {
			t.Fatal(err)
		}
		for name, typ := range attrs {
			if got := resp.GetCustomAttributes()[name]; got != typ {
				t.Errorf("db %q: %s is %s, want %s", opts.DBFile, name, got, typ)
			}
		}
		if _, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{TaskQueue: "nobody",
			TypedSearchAttributes: temporal.NewSearchAttributes(temporal.NewSearchAttributeKeyKeywordList("CordonTargets").ValueSet([]string{"i-0abc"}))},
			"Nothing"); err != nil {
			t.Errorf("db %q: start with a search attribute: %v", opts.DBFile, err)
		}
		if err := s.Stop(); err != nil {
			t.Fatal(err)
		}
	}
}
