package main

import (
	"go.temporal.io/api/workflowservice/v1"

	"github.com/cordon-ir/cordon/workflows"
)

func listRequest(limit int) *workflowservice.ListWorkflowExecutionsRequest {
	return &workflowservice.ListWorkflowExecutionsRequest{
		PageSize: int32(limit),
		Query:    "WorkflowType = '" + workflows.WorkflowName + "'",
	}
}
