package actions

import (
	"context"
	"fmt"
	"regexp"
	"time"

	"github.com/cordon-ir/cordon/actions/wire"
	"github.com/cordon-ir/cordon/evidence"
)

type memoryParams struct {
	instanceParams
	ToolURL        string `json:"tool_url"`
	ToolSHA256     string `json:"tool_sha256"`
	Case           string `json:"case"`
	TimeoutSeconds int    `json:"timeout_seconds"`
}

// memoryScript acquires memory with the tool at url, which must hash to
// sum, and uploads the image to s3://bucket/key with the instance's
// credentials. The tool runs only if sha256sum accepts it; the image's own
// SHA-256 is printed before the upload, in the line imageLine reads. All
// values are single-quoted: the parameters' patterns forbid quotes.
func memoryScript(url, sum, bucket, key string) []string {
	dest := "s3://" + bucket + "/" + key
	return []string{
		"# Cordon: memory acquisition (AVML), into the evidence store",
		"set -eu",
		"umask 077",
		`work=$(mktemp -d /var/tmp/cordon-memory.XXXXXX)`,
		`trap 'rm -rf "$work"' EXIT`,
		fmt.Sprintf(`curl -fsS --proto '=https' --tlsv1.2 -o "$work/tool" '%s'`, url),
		fmt.Sprintf(`if ! echo '%s  '"$work/tool" | sha256sum -c --status -; then echo "the memory tool from %s does not have SHA-256 %s: not running it" >&2; exit 3; fi`, sum, url, sum),
		`chmod 0700 "$work/tool"`,
		`"$work/tool" "$work/memory.lime"`,
		fmt.Sprintf(`echo "$(sha256sum "$work/memory.lime" | cut -d' ' -f1)  %s"`, dest),
		`echo "size $(stat -c %s "$work/memory.lime")"`,
		fmt.Sprintf(`aws s3 cp "$work/memory.lime" '%s' --checksum-algorithm SHA256 --only-show-errors`, dest),
	}
}

// imageLine finds the "<sha256>  s3://..." line the script prints.
var imageLine = regexp.MustCompile(`(?m)^([0-9a-f]{64})  s3://`)

func captureMemory(ctx context.Context, x *execution) error {
	var p memoryParams
	in, err := decodeForInstance(ctx, x, &p)
	if err != nil {
		return err
	}
	if p.TimeoutSeconds < 60 || p.TimeoutSeconds > 172800 {
		return badParams(x.call.Action, fmt.Errorf("timeout_seconds is %d: use 60 to 172800", p.TimeoutSeconds))
	}
	store, err := x.evidenceStore(ctx)
	if err != nil {
		return err
	}
	if store == nil {
		return x.refuse(fmt.Sprintf("capture the memory of %s: no evidence store is configured, and a memory image needs one (evidence in the worker configuration, docs/forensics.md)", p.InstanceID))
	}
	it := x.evidenceItem(evidence.Item{Case: p.Case, Kind: "memory", Subject: p.InstanceID, Name: "memory.lime", ContentType: "application/octet-stream",
		Description: "memory image (LiME format) acquired with the tool of SHA-256 " + p.ToolSHA256})
	what := "capture the memory of " + p.InstanceID
	key := store.Key(it)
	done, refused, err := beforeCommand(ctx, x, store, it, in, what)
	switch {
	case err != nil:
		return err
	case done != nil:
		memoryOutputs(x, *done, "")
		return nil
	case refused:
		memoryOutputs(x, wire.Artefact{Bucket: store.Bucket(), Key: key}, "")
		return nil
	}
	location := "s3://" + store.Bucket() + "/" + key
	x.change(location, "memory image", nil, fmt.Sprintf("acquired on %s by the tool of SHA-256 %s through SSM Run Command", p.InstanceID, p.ToolSHA256))
	if x.preview() {
		memoryOutputs(x, wire.Artefact{Bucket: store.Bucket(), Key: key}, "")
		return nil
	}
	inv, err := runScript(ctx, x, p.InstanceID, ssmScript{what: "memory acquisition", lines: memoryScript(p.ToolURL, p.ToolSHA256, store.Bucket(), key),
		timeout: time.Duration(p.TimeoutSeconds) * time.Second})
	if err != nil {
		return err
	}
	if inv.status != "Success" {
		return commandFailed("%s: SSM command %s failed (exit code %d): %s", what, inv.commandID, inv.exitCode, excerptOf(inv.stderr+inv.stdout, 8))
	}
	claimed := ""
	if m := imageLine.FindStringSubmatch(inv.stdout); m != nil {
		claimed = m[1]
	} else {
		x.note("the instance printed no SHA-256 for the image; the hash recorded is the one Cordon computed from the bucket")
	}
	it.Source = fmt.Sprintf("SSM command %s (AWS-RunShellScript) on %s, tool %s (sha256 %s)", inv.commandID, p.InstanceID, p.ToolURL, p.ToolSHA256)
	a, _, err := store.Adopt(ctx, it, claimed)
	if err != nil {
		return evidenceError(what, store, err)
	}
	memoryOutputs(x, a, inv.commandID)
	x.recordArtefact(a)
	return nil
}

func memoryOutputs(x *execution, a wire.Artefact, commandID string) {
	x.output("bucket", a.Bucket)
	x.output("object_key", a.Key)
	x.output("version_id", a.VersionID)
	x.output("sha256", a.SHA256)
	x.output("size", a.Size)
	x.output("command_id", commandID)
	x.output("location", a.Location())
}
