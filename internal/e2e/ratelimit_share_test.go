package e2e

import (
	"context"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"

	"github.com/cordon-ir/cordon/actions"
	"github.com/cordon-ir/cordon/internal/awsemu"
	"github.com/cordon-ir/cordon/internal/syncbuf"
	"github.com/cordon-ir/cordon/worker"
	"github.com/cordon-ir/cordon/workflows"
)

// The deployment's budget for each mutating API action, configured on
// every worker (aws.rate_limit): 8 calls a second, a burst of 2. Shared
// between two workers, each spends 4/s with a burst of 1.
var shareLimit = actions.RateLimit{MutatingPerSecond: 8, MutatingBurst: 2}

const (
	// shareItems tag calls: 7.5 s at the shared rate, half that without.
	shareItems = 60
	// shareWindow is the span calls are counted over. Any shareWindow of
	// the two workers' calls holds at most their bursts plus the rate ×
	// shareWindow: 2 + 8 × 2 = 18 when shared; 4 + 16 × 2 = 36 when each
	// spends the whole budget (if the calls come as fast as that).
	shareWindow = 2 * time.Second
	// shareBound is that shared bound, plus 4 calls for the jitter between
	// a call leaving a worker's limiter and the emulator recording it (the
	// token buckets bound departures, the emulator sees arrivals): calls
	// held up to half a second on a busy machine and arriving together
	// with later ones. The control, at twice the rate, is far above it.
	shareBound = 18 + 4
)

// Two workers of one deployment poll one task queue and call one AWS
// account (the emulator). Each has its own action runtime and rate
// limiter, configured for the whole deployment's budget. With sharing (the
// default) each takes half, as it learns from the server that another
// worker polls the queue, and their combined rate of CreateTags stays
// inside the budget; with aws.share_rate_limit: false, the control, it
// exceeds it.
//
// What is measured is the emulator's own record of the calls: the most
// CreateTags it received within any 2 s, not how long anything took. A
// token bucket bounds calls in every window, so the shared bound holds
// however slow the machine is; the control needs both workers busy at
// once, which 60 calls in flight against a budget of 8/s make sure of, and
// is compared with the shared bound, half of what it can reach.
func TestSeveralWorkersShareOneAWSBudget(t *testing.T) {
	shared := runSharingWorkers(t, true)
	control := runSharingWorkers(t, false)
	t.Logf("most CreateTags in %s: %d shared (bound %d), %d each with the whole budget; mean rates %.1f/s and %.1f/s, budget %.0f/s",
		shareWindow, shared.busiest, shareBound, control.busiest, shared.rate, control.rate, shareLimit.MutatingPerSecond)
	if shared.busiest > shareBound {
		t.Errorf("sharing: %d CreateTags within %s from two workers, above the budget's %d", shared.busiest, shareWindow, shareBound)
	}
	if control.busiest <= shareBound {
		t.Errorf("control: without sharing, two workers made only %d CreateTags within %s (bound when shared %d): this test proves nothing",
			control.busiest, shareWindow, shareBound)
	}
}

// callRates are what the emulator recorded of one run's CreateTags.
type callRates struct {
	busiest int     // most calls within any shareWindow
	rate    float64 // calls per second, first call to last
}

// runSharingWorkers starts two workers (with or without sharing) on a
// task queue and emulator of their own, runs a runbook that tags one
// instance shareItems times, all at once, and returns the rates of its
// CreateTags.
func runSharingWorkers(t *testing.T, share bool) callRates {
	t.Helper()
	emu := awsemu.NewTestServer(t, awsemu.Options{Logger: slog.New(slog.DiscardHandler)})
	fleet, err := emu.SeedFleet(awsemu.FleetSpec{Instances: 1})
	if err != nil {
		t.Fatal(err)
	}
	queue := fmt.Sprintf("e2e-share-%t-%d", share, time.Now().UnixNano())
	cfg := &worker.Config{
		Temporal: shared.cfg.Temporal, Roster: shared.cfg.Roster, Runbooks: shared.cfg.Runbooks,
		AWS: worker.AWSConfig{Region: emu.Region(), Endpoint: emu.URL(), ShareRateLimit: &share},
	}
	cfg.Temporal.TaskQueue = queue

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	logs := make([]*syncbuf.Buffer, 2)
	for i := range logs {
		logs[i] = &syncbuf.Buffer{}
		clients := actions.NewAWSClientSource(actions.AWSOptions{Base: emu.AWSConfig(), Endpoint: emu.URL(), RateLimit: shareLimit})
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Two workers of one process: each with its own runtime,
			// limiter and identity, as two processes would be.
			err := worker.Run(ctx, shared.client, cfg, worker.Options{
				Logger:    slog.New(slog.NewTextHandler(logs[i], nil)),
				Clients:   clients,
				RateShare: worker.RateShareOptions{Every: 200 * time.Millisecond},
			})
			if err != nil {
				t.Errorf("worker %d: %v", i, err)
			}
		}()
	}
	defer func() {
		cancel()
		wg.Wait()
	}()

	// Both poll the queue before the run starts; with sharing, both have
	// seen the other and taken half.
	pollUntil(t, 30*time.Second, "two workers polling "+queue, func() bool { return activityPollers(ctx, queue) == 2 })
	if share {
		for i, l := range logs {
			pollUntil(t, 30*time.Second, fmt.Sprintf("worker %d taking half", i), func() bool { return lastShare(l.String()) == "workers=2" })
		}
	}

	var src strings.Builder
	src.WriteString("apiVersion: cordon.dev/v1\nkind: Runbook\nmetadata:\n  name: share\nsteps:\n  - id: tag\n    action: aws.ec2.tag\n    foreach: [")
	for i := range shareItems {
		if i > 0 {
			src.WriteString(", ")
		}
		fmt.Fprintf(&src, "\"%d\"", i)
	}
	fmt.Fprintf(&src, "]\n    max_concurrency: %d\n    with: {resource_ids: [%s], tags: {\"cordon:share\": \"${{ item }}\"}}\n", shareItems, fleet.InstanceIDs[0])
	plan := compileAdHoc(t, "share.yaml", src.String())
	// Not a reviewed runbook: carol's signed break-glass approves its
	// plan and passes its gates, as a lead's would.
	runID := startSigned(t, shared.client, queue, plan, map[string]any{},
		workflows.RunMeta{RunID: queue, Requester: "alice", Incident: "INC-SHARE"}, "two workers, one budget")
	succeeded(t, shared.client, runID, time.Minute)

	var at []time.Time
	for _, c := range emu.Calls() {
		if c.Action == "CreateTags" && !c.DryRun && c.ErrorCode == "" {
			at = append(at, c.Time)
		}
	}
	slices.SortFunc(at, time.Time.Compare)
	if len(at) < shareItems {
		t.Fatalf("%d CreateTags for %d items", len(at), shareItems)
	}
	r := callRates{busiest: busiest(at, shareWindow)}
	if span := at[len(at)-1].Sub(at[0]); span > 0 {
		r.rate = float64(len(at)-1) / span.Seconds()
	}
	return r
}

// activityPollers is how many workers the server lists as polling queue
// for activity tasks, on any partition.
func activityPollers(ctx context.Context, queue string) int {
	ids := map[string]bool{}
	if d, err := shared.client.DescribeTaskQueueEnhanced(ctx, client.DescribeTaskQueueEnhancedOptions{TaskQueue: queue,
		TaskQueueTypes: []client.TaskQueueType{client.TaskQueueTypeActivity}, ReportPollers: true}); err == nil {
		for _, v := range d.VersionsInfo {
			for _, p := range v.TypesInfo[client.TaskQueueTypeActivity].Pollers {
				ids[p.Identity] = true
			}
		}
	}
	if d, err := shared.client.DescribeTaskQueue(ctx, queue, enumspb.TASK_QUEUE_TYPE_ACTIVITY); err == nil {
		for _, p := range d.GetPollers() {
			ids[p.GetIdentity()] = true
		}
	}
	return len(ids)
}

var shareLine = regexp.MustCompile(`msg="AWS rate limit share" .*?(workers=\d+) `)

// lastShare is the share a worker's log says it took last ("workers=N").
func lastShare(log string) string {
	m := shareLine.FindAllStringSubmatch(log, -1)
	if len(m) == 0 {
		return ""
	}
	return m[len(m)-1][1]
}

// busiest is the most of at (in order) within any window of length w.
func busiest(at []time.Time, w time.Duration) int {
	most, j := 0, 0
	for i := range at {
		for at[i].Sub(at[j]) >= w {
			j++
		}
		most = max(most, i-j+1)
	}
	return most
}
