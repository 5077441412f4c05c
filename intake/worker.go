package intake

import (
	"errors"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/cordon-ir/cordon/worker"
)

// Register registers the intake's workflows and activities on w, which
// polls o.TaskQueue; c is the client the activities start runs and
// signal workflows with.
func Register(w sdkworker.Registry, c client.Client, o Options) {
	o = o.withDefaults()
	if o.RunTaskQueue == "" {
		o.RunTaskQueue = worker.DefaultTaskQueue
	}
	RegisterWorkflows(w)
	a := &activities{c: c, o: o}
	w.RegisterActivityWithOptions(a.StartRun, activity.RegisterOptions{Name: ActivityStartRun})
	w.RegisterActivityWithOptions(a.RunStatus, activity.RegisterOptions{Name: ActivityRunStatus})
	w.RegisterActivityWithOptions(a.SendUpdate, activity.RegisterOptions{Name: ActivitySendUpdate})
	w.RegisterActivityWithOptions(a.Notify, activity.RegisterOptions{Name: ActivityNotify})
	w.RegisterActivityWithOptions(a.JoinBatch, activity.RegisterOptions{Name: ActivityJoinBatch})
	w.RegisterActivityWithOptions(a.Acquire, activity.RegisterOptions{Name: ActivityAcquire})
}

// NewWorker is a worker of the intake's task queue with everything
// registered; the caller starts and stops it. The intake must have a
// roster identity and its key: it signs every start and update.
func NewWorker(c client.Client, o Options) (sdkworker.Worker, error) {
	if o.IntakeID == "" || o.Signer == nil {
		return nil, errors.New("intake worker: the intake needs its roster member id (role intake) and its SSH key")
	}
	o = o.withDefaults()
	w := sdkworker.New(c, o.TaskQueue, sdkworker.Options{})
	Register(w, c, o)
	return w, nil
}

// WorkflowRegistry is where workflows are registered by name: a worker,
// or a replayer of recorded histories.
type WorkflowRegistry interface {
	RegisterWorkflowWithOptions(w any, options workflow.RegisterOptions)
}

// RegisterWorkflows registers the intake's workflows under their names,
// on a worker (Register) or on a replayer (testdata/histories).
func RegisterWorkflows(w WorkflowRegistry) {
	w.RegisterWorkflowWithOptions(FindingWorkflow, workflow.RegisterOptions{Name: FindingWorkflowName})
	w.RegisterWorkflowWithOptions(BatchWorkflow, workflow.RegisterOptions{Name: BatchWorkflowName})
	w.RegisterWorkflowWithOptions(BreakerWorkflow, workflow.RegisterOptions{Name: BreakerWorkflowName})
}
