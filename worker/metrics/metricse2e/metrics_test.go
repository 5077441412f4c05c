// Package metricse2e runs a containment through worker.Run with
// metrics.listen set, on a real in-process Temporal server and the AWS
// emulator, and reads the worker's /metrics: the Temporal SDK's metrics
// and Cordon's AWS metrics, end to end. It links the Temporal server, so
// it is a package of its own (worker and worker/metrics stay quick to
// build) with one test.
package metricse2e

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/cordon-ir/cordon/internal/awsemu"
	"github.com/cordon-ir/cordon/internal/sandbox"
	"github.com/cordon-ir/cordon/runctl"
	"github.com/cordon-ir/cordon/worker"
	"github.com/cordon-ir/cordon/workflows"
)

const runbook = `apiVersion: cordon.dev/v1
kind: Runbook
metadata:
  name: metrics-e2e
inputs:
  instance_id: {type: string, required: true}
  region: {type: string, required: true}
target:
  region: ${{ inputs.region }}
steps:
  - id: evidence
    action: aws.ec2.describe_instance
    with: {instance_id: "${{ inputs.instance_id }}"}
  - id: tag
    action: aws.ec2.tag
    with:
      resource_ids: ["${{ inputs.instance_id }}"]
      tags: {cordon:state: observed}
`

func scrape(url string) (string, error) {
	resp, err := http.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

func TestRunExposesSDKAndAWSMetrics(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	box, err := sandbox.Start(ctx, sandbox.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer box.Close()
	emu := box.Emulator()
	fleet, err := emu.SeedFleet(awsemu.FleetSpec{Instances: 1})
	if err != nil {
		t.Fatal(err)
	}
	// worker.Run loads the worker's own credentials the standard way: give
	// it the emulator's, and nothing from this machine.
	emu.UseCredentialsInEnv(t)
	dir := t.TempDir()

	// A production roster (signatures required): alice signs the start,
	// and the worker vouches for the runbook from its source directory.
	people, err := sandbox.NewRoster([]sandbox.Member{{ID: "alice", Roles: []string{workflows.RoleResponder}, Groups: []string{"csirt-oncall"}}})
	if err != nil {
		t.Fatal(err)
	}
	alice := people.Signer("alice")
	source := filepath.Join(dir, "runbooks")
	if err := os.Mkdir(source, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(source, "metrics-e2e.yaml"), []byte(runbook), 0o600); err != nil {
		t.Fatal(err)
	}
	// The worker runs as cordon worker runs it (worker.Run, AWS through
	// the configured endpoint, the emulator), with metrics on a free port.
	cfg := box.WorkerConfig("metrics-e2e", people, source)
	cfg.Metrics = worker.MetricsConfig{Listen: "127.0.0.1:0"}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	c := box.Client()
	urls := make(chan string, 1)
	logger := slog.New(slog.DiscardHandler)
	listening := func(url string) { urls <- url }
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	done := make(chan error, 1)
	go func() {
		done <- worker.Run(runCtx, c, cfg, worker.Options{Logger: logger, MetricsListening: listening})
	}()
	var url string
	select {
	case url = <-urls:
	case err := <-done:
		t.Fatalf("worker.Run returned: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("worker.Run did not report its metrics endpoint")
	}

	// Started by name, as cordon run does: the worker compiles the runbook
	// from its source and vouches for it.
	waitCtx, cancelWait := context.WithTimeout(ctx, time.Minute)
	defer cancelWait()
	runID, err := runctl.Start(waitCtx, c, cfg.Temporal.TaskQueue, runctl.StartOptions{Runbook: "metrics-e2e",
		InputArgs: map[string]string{"instance_id": fleet.InstanceIDs[0], "region": emu.Region()}, Signer: alice,
		Meta: workflows.RunMeta{Requester: "alice", Channel: "cli", Incident: "INC-9090"}})
	if err != nil {
		t.Fatal(err)
	}
	res, err := runctl.Wait(waitCtx, c, runID)
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != workflows.RunSucceeded {
		t.Fatalf("run %s: %s %s", runID, res.Status, res.Error)
	}
	if st, err := runctl.State(waitCtx, c, runID); err != nil {
		t.Fatal(err)
	} else if pv := st.Provenance; pv == nil || !pv.Vouched || !pv.Authenticated || pv.Requester != "alice" {
		t.Fatalf("provenance %+v: want a vouched plan and alice's verified start", pv)
	}

	// The SDK reports some metrics when a task completes, after the run
	// result is visible: poll briefly for the last of them.
	want := []*regexp.Regexp{
		regexp.MustCompile(`(?m)^cordon_aws_calls_total\{operation="CreateTags",outcome="ok",service="EC2"\} [1-9]`),
		regexp.MustCompile(`(?m)^cordon_aws_calls_total\{operation="DescribeInstances",outcome="ok",service="EC2"\} [1-9]`),
		regexp.MustCompile(`(?m)^cordon_aws_rate_limit_wait_seconds_count\{class="mutating",target="\|` + regexp.QuoteMeta(emu.Region()) + `"\} [1-9]`),
		regexp.MustCompile(`(?m)^temporal_activity_execution_latency_seconds_count\{activity_type="aws\.ec2\.tag",[^}]*task_queue="metrics-e2e"[^}]*\} 1$`),
		regexp.MustCompile(`(?m)^temporal_workflow_completed_total\{[^}]*workflow_type="` + regexp.QuoteMeta(workflows.WorkflowName) + `"[^}]*\} 1$`),
		regexp.MustCompile(`(?m)^temporal_workflow_task_execution_latency_seconds_bucket\{`),
		regexp.MustCompile(`(?m)^temporal_request_total\{[^}]*operation="RespondWorkflowTaskCompleted"[^}]*\} [1-9]`),
		regexp.MustCompile(`(?m)^temporal_worker_start_total\{[^}]*task_queue="metrics-e2e"[^}]*\} 1$`),
	}
	var text string
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if text, err = scrape(url); err != nil {
			t.Fatalf("scrape %s: %v", url, err)
		}
		missing := 0
		for _, re := range want {
			if !re.MatchString(text) {
				missing++
			}
		}
		if missing == 0 {
			break
		}
		if time.Now().After(deadline) {
			for _, re := range want {
				if !re.MatchString(text) {
					t.Errorf("scrape lacks %s", re)
				}
			}
			t.Fatalf("scrape:\n%s", text)
		}
	}
	var sample []string
	for _, l := range strings.Split(text, "\n") {
		if strings.HasPrefix(l, "cordon_") || strings.HasPrefix(l, "temporal_workflow_completed") || strings.HasPrefix(l, "temporal_activity_execution_latency_seconds_count") {
			sample = append(sample, l)
		}
	}
	t.Logf("scrape excerpt:\n%s", strings.Join(sample, "\n"))

	stop()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("worker.Run: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("worker.Run did not return after its context was cancelled")
	}
	if _, err := scrape(url); err == nil {
		t.Fatalf("%s still served after worker.Run returned", url)
	}
}
