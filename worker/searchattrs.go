package worker

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"strings"

	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/cordon-ir/cordon/workflows"
)

// CheckSearchAttributes says whether namespace has every one of Cordon's
// custom search attributes registered with its type
// (workflows.SearchAttributeTypes). A worker asks once at its start and
// tells its runs (through the roster activity): a run writes its search
// attributes only then, since an upsert of an attribute the namespace
// lacks fails the workflow task until someone registers it. When they are
// missing, or the check itself fails, it logs a warning saying how to
// register them and returns false: runs go on without them.
func CheckSearchAttributes(ctx context.Context, c client.Client, namespace string, logger *slog.Logger) bool {
	resp, err := c.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: namespace})
	if err != nil {
		logger.Warn("runs will not write Cordon's search attributes: listing the namespace's search attributes failed", "namespace", namespace, "err", err)
		return false
	}
	var missing []string
	for name, want := range workflows.SearchAttributeTypes() {
		if got, ok := resp.GetCustomAttributes()[name]; !ok || got != want {
			missing = append(missing, fmt.Sprintf("--name %s --type %s", name, typeName(want.String())))
		}
	}
	if len(missing) == 0 {
		return true
	}
	sort.Strings(missing)
	logger.Warn("runs will not write Cordon's search attributes (CordonRunbook, CordonTargets, ...): the namespace lacks some; register them (docs/operations.md) and restart the worker",
		"namespace", namespace, "register", "temporal operator search-attribute create --namespace "+namespace+" "+strings.Join(missing, " "))
	return false
}

// typeName is the CLI's name of an indexed value type
// (INDEXED_VALUE_TYPE_KEYWORD_LIST → KeywordList).
func typeName(enum string) string {
	var b strings.Builder
	for _, part := range strings.Split(strings.TrimPrefix(enum, "INDEXED_VALUE_TYPE_"), "_") {
		if part != "" {
			b.WriteString(part[:1] + strings.ToLower(part[1:]))
		}
	}
	return b.String()
}
