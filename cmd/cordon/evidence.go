package main

import (
	"context"
	"fmt"
	"os"

	"github.com/cordon-ir/cordon/evidence"
	"github.com/cordon-ir/cordon/worker"
)

const evidenceAbout = "Re-read every artefact of a case's manifest from the evidence store (by its S3 version id) and check\n" +
	"its SHA-256 and size against the manifest; print each artefact's verdict (ok, ALTERED, MISSING, UNREADABLE)\n" +
	"and name any that does not match. The store is the configuration's evidence section, read as the forensic\n" +
	"account's role (s3:GetObject, s3:GetObjectVersion). Exit 0 when every artefact matches, 1 otherwise."

// runEvidence is cordon evidence verify CASE.
func runEvidence(ctx context.Context, env *cliEnv, args []string) int {
	if len(args) == 0 || args[0] != "verify" {
		if len(args) > 0 && args[0] != "-h" && args[0] != "--help" && args[0] != "help" {
			fmt.Fprintf(env.stderr, "cordon evidence: unknown subcommand %q (want: verify)\n", args[0])
		}
		fmt.Fprintf(env.stderr, "Usage: cordon evidence verify CASE --config FILE [--json]\n\n%s\n", evidenceAbout)
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
			return 0
		}
		return 2
	}
	fs := newFlagSet(env, "evidence verify", "CASE --config FILE [--json]", evidenceAbout)
	path := fs.String("config", os.Getenv("CORDON_CONFIG"), "cordon.yaml with the evidence section and the forensic account (env CORDON_CONFIG)")
	out := registerOutput(fs, "text", "json")
	pos, format, exit, ok := out.parse(env, fs, args[1:], 1, 1)
	if !ok {
		return exit
	}
	if *path == "" {
		fmt.Fprintln(env.stderr, "cordon evidence verify: --config FILE is required: the evidence store is the configuration's evidence section")
		return 2
	}
	if err := evidence.ValidCase(pos[0]); err != nil {
		fmt.Fprintf(env.stderr, "cordon evidence verify: %v\n", err)
		return 2
	}
	cfg, err := worker.LoadConfig(*path)
	if err != nil {
		fmt.Fprintf(env.stderr, "cordon evidence verify: %v\n", err)
		return 1
	}
	store, err := worker.EvidenceStore(ctx, cfg, "evidence-verify")
	if err != nil {
		fmt.Fprintf(env.stderr, "cordon evidence verify: %v\n", err)
		return 1
	}
	v, err := store.Verify(ctx, pos[0])
	if err != nil {
		fmt.Fprintf(env.stderr, "cordon evidence verify: %v\n", err)
		return 1
	}
	if format == "json" {
		if code := writeJSON(env, v); code != 0 {
			return code
		}
	} else if err := v.WriteText(env.stdout); err != nil {
		fmt.Fprintf(env.stderr, "cordon evidence verify: %v\n", err)
		return 1
	}
	if !v.OK() {
		return 1
	}
	return 0
}
