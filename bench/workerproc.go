package bench

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"gopkg.in/yaml.v3"

	"github.com/cordon-ir/cordon/internal/awsemu"
	"github.com/cordon-ir/cordon/worker"
)

const (
	// workerStopTimeout is how long a worker process gets after SIGTERM
	// before SIGKILL: worker.Run gives activities 10s to stop.
	workerStopTimeout = 30 * time.Second
	// workerReadyTimeout bounds the wait for a fresh worker process to
	// poll the task queue (start, dial, register).
	workerReadyTimeout = 2 * time.Minute
	// stderrTail is how much of a worker process's stderr is kept, to
	// say why it failed.
	stderrTail = 8 << 10
)

// writeWorkerConfig writes the cordon.yaml of the worker process: the
// roster, server and task queue of the in-process worker, the emulator as
// the AWS endpoint, and the bench's rate limit. It returns the file's path.
func writeWorkerConfig(dir string, cfg worker.Config, region, endpoint string, limit worker.RateLimitConfig, poll time.Duration) (string, error) {
	cfg.AWS = worker.AWSConfig{Region: region, Endpoint: endpoint, PollInterval: poll,
		// Always set: a nil rate_limit means worker.DefaultRateLimit, while
		// zeros mean unlimited, which is what Options.NoRateLimit asks for.
		RateLimit: &limit}
	raw, err := yaml.Marshal(cfg)
	if err != nil {
		return "", fmt.Errorf("marshal the worker process's config: %w", err)
	}
	path := filepath.Join(dir, "cordon.yaml")
	if err := os.WriteFile(path, raw, 0o600); err != nil {
		return "", fmt.Errorf("write the worker process's config: %w", err)
	}
	// Fail here, with the bench's own words, rather than in the child.
	if _, err := worker.LoadConfig(path); err != nil {
		return "", fmt.Errorf("the worker process's config does not load: %w", err)
	}
	return path, nil
}

// workerEnv is the worker process's environment: the bench's own, without
// CORDON_* and AWS_* variables (CORDON_TEMPORAL_ADDRESS or an API key
// would point it at another server; a profile or role at real AWS), plus
// the emulator's static credentials, the way internal/e2e starts one.
func workerEnv(region string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "CORDON_") && !strings.HasPrefix(kv, "AWS_") {
			env = append(env, kv)
		}
	}
	return append(env,
		"AWS_ACCESS_KEY_ID="+awsemu.DefaultAccessKeyID,
		"AWS_SECRET_ACCESS_KEY="+awsemu.DefaultSecretAccessKey,
		"AWS_REGION="+region,
		"AWS_EC2_METADATA_DISABLED=true",
		"AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null",
	)
}

// workerProc is one `cordon worker` child process.
type workerProc struct {
	cmd    *exec.Cmd
	logger *slog.Logger
	stderr *tail
	// done is closed once Wait has returned; waitErr is its result.
	done    chan struct{}
	waitErr error
}

// startWorkerProcess runs `bin worker --config cfgPath`. The caller must
// call stop on every path once this returns no error.
func startWorkerProcess(bin, cfgPath string, env []string, logger *slog.Logger) (*workerProc, error) {
	p := &workerProc{logger: logger, stderr: &tail{max: stderrTail}, done: make(chan struct{})}
	// Not CommandContext: stop, not a cancelled context, ends the process,
	// so it always gets SIGTERM first and its peak RSS is read before.
	p.cmd = exec.Command(bin, "worker", "--config", cfgPath)
	p.cmd.Env = env
	p.cmd.Stderr = p.stderr
	// Stop copying stderr soon after the process is gone, even if
	// something inherited the pipe.
	p.cmd.WaitDelay = 5 * time.Second
	detach(p.cmd)
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start the worker process %s: %w", bin, err)
	}
	go func() {
		p.waitErr = p.cmd.Wait()
		close(p.done)
	}()
	logger.Info("bench: worker process started", "pid", p.cmd.Process.Pid, "binary", bin)
	return p, nil
}

// exited says why the process ended on its own, with its last words.
func (p *workerProc) exited() error {
	return fmt.Errorf("the worker process (pid %d) exited: %w; stderr: %s", p.cmd.Process.Pid, p.waitErr, p.stderr.String())
}

// waitReady waits until the process polls the task queue for workflow and
// activity tasks, so its start-up (exec, dial, register) is not counted in
// the measurement. Pollers are told apart by the SDK's default identity,
// "pid@host@": a worker stopped a moment ago stays listed for a while.
func (p *workerProc) waitReady(ctx context.Context, c client.Client, queue string) error {
	ctx, cancel := context.WithTimeout(ctx, workerReadyTimeout)
	defer cancel()
	prefix := strconv.Itoa(p.cmd.Process.Pid) + "@"
	polling := func(kind enumspb.TaskQueueType) (bool, error) {
		resp, err := c.DescribeTaskQueue(ctx, queue, kind)
		if err != nil {
			return false, fmt.Errorf("describe task queue %s: %w", queue, err)
		}
		for _, poller := range resp.GetPollers() {
			if strings.HasPrefix(poller.GetIdentity(), prefix) {
				return true, nil
			}
		}
		return false, nil
	}
	for {
		wf, err := polling(enumspb.TASK_QUEUE_TYPE_WORKFLOW)
		if err != nil && ctx.Err() == nil {
			return err
		}
		act, err := polling(enumspb.TASK_QUEUE_TYPE_ACTIVITY)
		if err != nil && ctx.Err() == nil {
			return err
		}
		if wf && act {
			return nil
		}
		select {
		case <-p.done:
			return p.exited()
		case <-ctx.Done():
			return fmt.Errorf("wait for the worker process (pid %d) to poll task queue %s: %w", p.cmd.Process.Pid, queue, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// workerRSS is what stop measured of a worker process, in bytes.
type workerRSS struct {
	// peak is VmHWM just before SIGTERM, or wait4's maximum RSS.
	peak int64
	// file is the file-backed RSS just before SIGTERM (0: unknown).
	file int64
}

// stop ends the process (SIGTERM, then SIGKILL after timeout) and returns
// its peak RSS: VmHWM read just before SIGTERM, so the figure is the peak
// while it worked, or, when /proc cannot tell (not Linux, or the process
// already died), the maximum RSS wait4 reports. It is safe to call after
// the process has exited on its own; it reports that as an error.
func (p *workerProc) stop(timeout time.Duration) (workerRSS, error) {
	pid := p.cmd.Process.Pid
	var rss workerRSS
	var exitedEarly bool
	select {
	case <-p.done:
		exitedEarly = true
	default:
		if st, err := procStatus(pid); err == nil && st["VmHWM"] > 0 {
			rss = workerRSS{peak: st["VmHWM"], file: st["RssFile"]}
			// The peak counts the binary's pages it touched (file-backed,
			// shared, reclaimable) as well as its heap; now's split says
			// how much of the RSS is which.
			p.logger.Info("bench: worker process before SIGTERM", "pid", pid, "rss_mib", st["VmRSS"]>>20,
				"rss_anon_mib", st["RssAnon"]>>20, "rss_file_mib", st["RssFile"]>>20)
		} else {
			p.logger.Debug("bench: no VmHWM for the worker process", "pid", pid, "err", err)
		}
		if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
			p.logger.Warn("bench: SIGTERM to the worker process failed", "pid", pid, "err", err)
		}
		select {
		case <-p.done:
		case <-time.After(timeout):
			p.logger.Warn("bench: the worker process did not stop after SIGTERM: killing it", "pid", pid, "after", timeout)
			if err := p.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
				p.logger.Warn("bench: SIGKILL to the worker process failed", "pid", pid, "err", err)
			}
			<-p.done
		}
	}
	if rss.peak == 0 && p.cmd.ProcessState != nil {
		if ru, ok := p.cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
			rss.peak = maxrssBytes(int64(ru.Maxrss))
		}
	}
	p.logger.Info("bench: worker process stopped", "pid", pid, "peak_rss_mib", rss.peak>>20, "state", p.cmd.ProcessState)
	if exitedEarly {
		return rss, p.exited()
	}
	return rss, nil
}

// procStatus reads the sizes in /proc/PID/status (Linux only), in bytes,
// by name: VmHWM, VmRSS, RssAnon, RssFile...
func procStatus(pid int) (map[string]int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	sizes := map[string]int64{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, v, ok := strings.Cut(sc.Text(), ":")
		v, kB := strings.CutSuffix(strings.TrimSpace(v), " kB")
		if !ok || !kB {
			continue
		}
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("parse %s %q in /proc/%d/status: %w", name, v, pid, err)
		}
		sizes[name] = n * 1024
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read /proc/%d/status: %w", pid, err)
	}
	return sizes, nil
}

// tail keeps the last max bytes written to it; exec copies the child's
// stderr into it from its own goroutine, hence the lock.
type tail struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func (t *tail) Write(b []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, b...)
	if over := len(t.buf) - t.max; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
	}
	return len(b), nil
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := string(bytes.TrimSpace(t.buf))
	if s == "" {
		return "(empty)"
	}
	return s
}
