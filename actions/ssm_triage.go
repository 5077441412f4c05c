package actions

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/cordon-ir/cordon/evidence"
)

// triageCommand is one reviewed command of the triage catalogue. Each only
// reads, and says nothing an attacker controls into a place it runs: the
// output goes to stdout, bounded, and nowhere else.
type triageCommand struct {
	name, about string
	lines       []string
}

// triageCatalogue is every command aws.ssm.run_command may run. A runbook
// names one; adding one here is a reviewed change of Cordon itself. Built
// on each call: a package-level slice would be mutable state.
func triageCatalogue() []triageCommand {
	return []triageCommand{
		{"processes", "every process with its parent, user, start time and command line, and the processes whose executable was deleted", []string{
			`ps -eo pid,ppid,user,lstart,etime,args --forest`,
			`echo; echo '# processes running a deleted executable'`,
			`ls -l /proc/[0-9]*/exe 2>/dev/null | grep '(deleted)' || true`,
		}},
		{"connections", "listening sockets and established connections with their processes", []string{
			`ss -tanpu 2>/dev/null || netstat -tanpu`,
		}},
		{"persistence", "crontabs, systemd units and timers enabled, rc.local, ld.so.preload, authorized_keys files", []string{
			`for u in $(cut -d: -f1 /etc/passwd); do crontab -l -u "$u" 2>/dev/null | sed "s/^/crontab $u: /"; done`,
			`ls -la /etc/cron.d /etc/cron.hourly /etc/cron.daily /var/spool/cron 2>/dev/null || true`,
			`systemctl list-unit-files --state=enabled --no-pager 2>/dev/null || true`,
			`systemctl list-timers --all --no-pager 2>/dev/null || true`,
			`echo '# /etc/rc.local'; cat /etc/rc.local 2>/dev/null || true`,
			`echo '# /etc/ld.so.preload'; cat /etc/ld.so.preload 2>/dev/null || true`,
			`echo '# authorized_keys'; find / -xdev -name authorized_keys -type f -exec ls -l {} \; -exec cat {} \; 2>/dev/null || true`,
		}},
		{"logins", "recent logins and failed logins, and who is logged in", []string{
			`last -F -n 100 2>/dev/null || true`,
			`echo; echo '# failed logins'; lastb -F -n 100 2>/dev/null || true`,
			`echo; echo '# logged in now'; who -a`,
		}},
	}
}

func triageCommandNames() []string {
	var out []string
	for _, c := range triageCatalogue() {
		out = append(out, c.name)
	}
	return out
}

// triageCatalogueText is the catalogue as the docs list it.
func triageCatalogueText() string {
	var parts []string
	for _, c := range triageCatalogue() {
		parts = append(parts, c.name+" ("+c.about+")")
	}
	return strings.Join(parts, "; ")
}

type triageParams struct {
	instanceParams
	Command        string `json:"command"`
	Case           string `json:"case"`
	MaxOutputBytes int    `json:"max_output_bytes"`
	TimeoutSeconds int    `json:"timeout_seconds"`
}

// triageScript runs the command with its output bounded on the instance:
// nothing beyond max bytes leaves it.
func triageScript(c triageCommand, max int) []string {
	lines := []string{"# Cordon triage: " + c.name + " (" + c.about + ")", "{"}
	lines = append(lines, c.lines...)
	return append(lines, fmt.Sprintf("} | head -c %d", max))
}

func runTriageCommand(ctx context.Context, x *execution) error {
	var p triageParams
	in, err := decodeForInstance(ctx, x, &p)
	if err != nil {
		return err
	}
	var cmd *triageCommand
	for _, c := range triageCatalogue() {
		if c.name == p.Command {
			cmd = &c
		}
	}
	switch {
	case cmd == nil:
		return badParams(x.call.Action, fmt.Errorf("command %q is not in the triage catalogue (%s)", p.Command, strings.Join(triageCommandNames(), ", ")))
	case p.MaxOutputBytes < 1024 || p.MaxOutputBytes > 24000:
		return badParams(x.call.Action, fmt.Errorf("max_output_bytes is %d: use 1024 to 24000", p.MaxOutputBytes))
	case p.TimeoutSeconds < 30 || p.TimeoutSeconds > 3600:
		return badParams(x.call.Action, fmt.Errorf("timeout_seconds is %d: use 30 to 3600", p.TimeoutSeconds))
	}
	what := "triage " + p.Command + " on " + p.InstanceID
	store, err := x.evidenceStore(ctx)
	if err != nil {
		return err
	}
	it := x.evidenceItem(evidence.Item{Case: p.Case, Kind: "triage", Subject: p.InstanceID, Name: p.Command + ".txt", ContentType: "text/plain; charset=utf-8",
		Description: "triage command " + p.Command + ": " + cmd.about})
	done, refused, err := beforeCommand(ctx, x, store, it, in, what)
	switch {
	case err != nil:
		return err
	case done != nil:
		triageOutputs(x, done.Bucket, done.Key, done.VersionID, done.SHA256, done.Size, "", triageRecord{})
		return nil
	case refused:
		triageOutputs(x, "", "", "", "", 0, "", triageRecord{})
		return nil
	}
	script := triageScript(*cmd, p.MaxOutputBytes)
	x.change(p.InstanceID, "triage command "+p.Command, nil, strings.Join(script, "\n"))
	if x.preview() {
		triageOutputs(x, "", "", "", "", 0, "", triageRecord{})
		return nil
	}
	inv, err := runScript(ctx, x, p.InstanceID, ssmScript{what: "triage " + p.Command, lines: script, timeout: time.Duration(p.TimeoutSeconds) * time.Second})
	if err != nil {
		return err
	}
	body := inv.stdout
	if inv.stderr != "" {
		body += "\n--- stderr ---\n" + inv.stderr
	}
	rec := triageRecord{exitCode: inv.exitCode, excerpt: excerptOf(inv.stdout, 12), truncated: len(inv.stdout) >= p.MaxOutputBytes}
	if inv.exitCode != 0 {
		x.note("%s exited %d (kept as evidence all the same): %s", p.Command, inv.exitCode, excerptOf(inv.stderr, 3))
	}
	if rec.truncated {
		x.note("the output of %s reached max_output_bytes (%d) and was cut on the instance", p.Command, p.MaxOutputBytes)
	}
	it.Source = fmt.Sprintf("SSM command %s (AWS-RunShellScript) on %s, exit code %d", inv.commandID, p.InstanceID, inv.exitCode)
	a, err := x.keepEvidence(ctx, it, []byte(body))
	if err != nil {
		return err
	}
	if a == nil {
		sum, size := sha256Hex([]byte(body)), int64(len(body))
		triageOutputs(x, "", "", "", sum, size, inv.commandID, rec)
		return nil
	}
	triageOutputs(x, a.Bucket, a.Key, a.VersionID, a.SHA256, a.Size, inv.commandID, rec)
	return nil
}

// triageRecord is what a triage command's run adds to its artefact's
// outputs.
type triageRecord struct {
	exitCode  int
	excerpt   string
	truncated bool
}

func triageOutputs(x *execution, bucket, key, version, sum string, size int64, commandID string, rec triageRecord) {
	x.output("bucket", bucket)
	x.output("object_key", key)
	x.output("version_id", version)
	x.output("sha256", sum)
	x.output("size", size)
	x.output("command_id", commandID)
	x.output("exit_code", rec.exitCode)
	x.output("excerpt", rec.excerpt)
	x.output("truncated", rec.truncated)
}
