package actions

import (
	"github.com/cordon-ir/cordon/actions/spec"
	"github.com/cordon-ir/cordon/evidence"
)

// ssmActions registers the SSM Run Command actions: the instance's memory
// and a reviewed catalogue of triage commands, each result an artefact of
// the evidence store (handlers in ssm_memory.go and ssm_triage.go, the
// command's life in ssm_command.go).
func ssmActions() []registration {
	str, num := spec.String, spec.Int
	caseParam := spec.Param{Name: "case", Type: str, Pattern: `^[A-Za-z0-9._=+@-]{1,128}$`,
		Description: "The case the artefact belongs to in the evidence store; default the run's incident, else its run id."}
	artefact := []spec.Field{
		spec.F("bucket", str, "The evidence bucket."),
		spec.F("object_key", str, "Where the artefact is in the bucket."),
		spec.F("version_id", str, "The S3 version the case's manifest vouches for."),
		spec.F("sha256", str, "SHA-256 of the stored bytes, as Cordon computed it (hex)."),
		spec.F("size", num, "Size of the stored artefact in bytes."),
		spec.F("command_id", str, "The SSM command that produced it."),
	}
	// Both actions run a command on the host through its agent and wait
	// for it, and store what it produced; the memory image is read back
	// from the bucket as well.
	perms := []string{"ec2:DescribeInstances", "ssm:DescribeInstanceInformation", "ssm:SendCommand", "ssm:ListCommandInvocations", "ssm:GetCommandInvocation"}
	memory := spec.Action{
		Name: "aws.ssm.capture_memory", Service: "ssm",
		Summary: "Capture the instance's memory into the evidence store: a memory acquisition tool (AVML), verified against its SHA-256, run through SSM Run Command.",
		Description: "Memory is the most volatile evidence (the malware's process, its keys, its command-and-control " +
			"addresses): capture it before isolating, and long before stopping. The instance must be managed by SSM " +
			"(DescribeInstanceInformation: agent online, Linux); if it is not, the step says so and, when the instance was " +
			"launched with hibernation, names the alternative: aws.ec2.stop_instance with hibernate: true keeps memory on the " +
			"root volume, which the snapshots then preserve.\n\n" +
			"The command (AWS-RunShellScript) downloads the tool from tool_url over HTTPS, checks it against tool_sha256 " +
			"with sha256sum and runs nothing else if it differs, acquires memory to a temporary file (on the instance's " +
			"disk: a small, recorded change to the disk evidence, which is why memory comes first), prints the image's " +
			"SHA-256, uploads it with `aws s3 cp` to the case's key in the evidence store and removes the file. The upload is " +
			"made with the instance profile's credentials (replace it with the forensic profile, aws.iam.replace_instance_profile, " +
			"so they can write the case's prefix and nothing else), so the bucket's default retention locks it.\n\n" +
			"Cordon then reads the image back from the bucket, hashes what the bucket holds, and records that hash in the " +
			"case's manifest, refusing an image whose hash differs from the one the instance printed. The command is " +
			"sent once per step: a retry finds it (heartbeat, then its comment) and waits for it; an image already in the " +
			"manifest is not captured again. A failed, timed-out or undelivered command fails the step, saying what the " +
			"instance printed. It needs an evidence store (evidence in the worker configuration).",
		Params: []spec.Param{
			instanceIDParam(),
			{Name: "tool_url", Type: str, Required: true, Pattern: `^https://[^\s'"\\]+$`,
				Description: "HTTPS URL the instance downloads the memory acquisition tool from: an AVML release (a static Linux binary), or your own mirror of it."},
			{Name: "tool_sha256", Type: str, Required: true, Pattern: `^[0-9a-f]{64}$`,
				Description: "SHA-256 (hex) the tool must have: the instance refuses to run anything else."},
			caseParam,
			{Name: "timeout_seconds", Type: num, Default: 3600, Description: "How long the acquisition may run on the instance (the command's executionTimeout), 60–172800."},
		},
		Outputs: append(append([]spec.Field{}, artefact...),
			spec.F("location", str, "s3://bucket/key?versionId=… of the image.")),
		Mutating:            true,
		DryRun:              "Checks the instance's agent (DescribeInstanceInformation) and the evidence store (its Object Lock and the case's manifest); sends no command (SSM has no dry run).",
		Permissions:         perms,
		ForensicPermissions: evidence.AdoptPermissions(),
		Timeout:             3 * hour,
	}
	triage := spec.Action{
		Name: "aws.ssm.run_command", Service: "ssm",
		Summary: "Run a named, reviewed triage command on the instance (processes, connections, persistence, logins) and keep its output as evidence.",
		Description: "Only the commands of Cordon's catalogue run, never shell from a runbook: a runbook names one, and the " +
			"reviewed script is what the gate and the record show. Each only reads: " + triageCatalogueText() + ".\n\n" +
			"The output is bounded on the instance (max_output_bytes, at most SSM's 24,000 characters) and stored as an " +
			"artefact of the evidence store, hashed by Cordon, with the command and its exit code; without a store it stays " +
			"in the run's record (the excerpt). A non-zero exit is recorded, not a failure (the output is still evidence); a " +
			"timed-out or undelivered command fails the step. The command is sent once per step: a retry finds it and " +
			"waits for it.",
		Params: []spec.Param{
			instanceIDParam(),
			{Name: "command", Type: str, Required: true, Enum: triageCommandNames(), Description: "The triage command: " + triageCatalogueText() + "."},
			caseParam,
			{Name: "max_output_bytes", Type: num, Default: 24000, Description: "Bound on the output kept, 1024–24000 (SSM returns at most 24,000 characters)."},
			{Name: "timeout_seconds", Type: num, Default: 600, Description: "How long the command may run on the instance, 30–3600."},
		},
		Outputs: append(append([]spec.Field{}, artefact...),
			spec.F("exit_code", num, "The command's exit code."),
			spec.F("excerpt", str, "The first lines of the output, for the record and the gate."),
			spec.F("truncated", spec.Bool, "Whether the output reached max_output_bytes and was cut."),
		),
		Mutating:            true,
		DryRun:              "Checks the instance's agent (DescribeInstanceInformation) and the evidence store; shows the script; sends no command (SSM has no dry run).",
		Permissions:         perms,
		ForensicPermissions: evidence.StorePermissions(),
		Timeout:             hour,
	}
	return []registration{action(memory, captureMemory), action(triage, runTriageCommand)}
}
