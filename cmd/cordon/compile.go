package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"slices"
	"strings"

	"github.com/cordon-ir/cordon/actions"
	"github.com/cordon-ir/cordon/intake"
	"github.com/cordon-ir/cordon/runbooks"
)

// parseInterleaved parses flags that may come before or after positional
// arguments (cordon plan FILE --input k=v), which the flag package alone
// does not allow.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return positional, nil
		}
		if rest[0] == "--" {
			return append(positional, rest[1:]...), nil
		}
		positional = append(positional, rest[0])
		args = rest[1:]
	}
}

func newFlagSet(env *cliEnv, name, usage, about string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(env.stderr)
	fs.Usage = func() {
		fmt.Fprintf(env.stderr, "Usage: cordon %s %s\n\n%s\n", name, usage, about)
		fs.PrintDefaults()
	}
	return fs
}

// parsePositional parses args (flags anywhere) and checks the count of
// positional arguments: at least least, at most most (-1: no limit). When
// parsing ends the command, ok is false and exit is its exit status (0 for
// -help, 2 for a usage error, after printing the usage).
func parsePositional(fs *flag.FlagSet, args []string, least, most int) (pos []string, exit int, ok bool) {
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return nil, flagExit(err), false
	}
	if len(pos) < least || (most >= 0 && len(pos) > most) {
		fs.Usage()
		return nil, 2, false
	}
	return pos, 0, true
}

// flagExit maps a flag parse error to an exit code: --help is success.
func flagExit(err error) int {
	if err == flag.ErrHelp {
		return 0
	}
	return 2
}

// compileFiles compiles each file and prints every diagnostic once (a
// child runbook's errors are also reached through its parents).
func compileFiles(env *cliEnv, paths []string) ([]*runbooks.Plan, bool) {
	compiler := runbooks.NewCompiler(actions.Catalog(), runbooks.NewDirResolver(paths...))
	printed := map[string]bool{}
	var plans []*runbooks.Plan
	ok := true
	for _, path := range paths {
		src, err := runbooks.ReadFile(path)
		if err != nil {
			fmt.Fprintf(env.stderr, "%s: cannot read: %v\n", path, err)
			ok = false
			continue
		}
		plan, diags := compiler.Compile(path, src)
		for _, d := range diags {
			line := d.Error()
			if !printed[line] {
				printed[line] = true
				fmt.Fprintln(env.stderr, line)
			}
		}
		if plan == nil {
			ok = false
			continue
		}
		plans = append(plans, plan)
	}
	return plans, ok
}

func runValidate(_ context.Context, env *cliEnv, args []string) int {
	fs := newFlagSet(env, "validate", "PATH...", "Compile each runbook and print every error as path:line:col: message. Exit 1 on any error.")
	paths, exit, ok := parsePositional(fs, args, 1, -1)
	if !ok {
		return exit
	}
	plans, ok := compileFiles(env, paths)
	for _, p := range plans {
		fmt.Fprintf(env.stdout, "%s: ok (%s, %d steps, plan %s)\n", p.Runbook.SourceFile, p.Runbook.Name, len(p.Steps), p.Hash()[:16])
	}
	if !ok {
		return 1
	}
	return 0
}

func runPlan(_ context.Context, env *cliEnv, args []string) int {
	fs := newFlagSet(env, "plan", "PATH [--input k=v...] [--json]", "Show the compiled plan: steps, conditions, gates and destructive marks.")
	inputs := inputFlags{}
	fs.Var(inputs, "input", "runbook input as key=value (repeatable; lists are comma-separated)")
	out := registerOutput(fs, "text", "json") // json: the plan the workflow receives
	paths, format, exit, ok := out.parse(env, fs, args, 1, 1)
	if !ok {
		return exit
	}
	plans, ok := compileFiles(env, paths)
	if !ok {
		return 1
	}
	plan := plans[0]
	var values map[string]any
	if len(inputs) > 0 {
		var err error
		if values, err = plan.ResolveInputs(inputs); err != nil {
			fmt.Fprintf(env.stderr, "%s: %v\n", paths[0], err)
			return 1
		}
	}
	if format == "json" {
		out := struct {
			Hash   string         `json:"hash"`
			Inputs map[string]any `json:"inputs,omitempty"`
			Plan   *runbooks.Plan `json:"plan"`
		}{plan.Hash(), values, plan}
		return writeJSON(env, out)
	}
	if err := plan.WriteText(env.stdout, values); err != nil {
		fmt.Fprintf(env.stderr, "cordon plan: %v\n", err)
		return 1
	}
	return 0
}

func runSchema(_ context.Context, env *cliEnv, args []string) int {
	fs := newFlagSet(env, "schema", "", "Print the JSON Schema of the runbook format (point yaml-language-server at it).")
	if _, err := parseInterleaved(fs, args); err != nil {
		return flagExit(err)
	}
	b, err := runbooks.JSONSchema(actions.Catalog().Names())
	if err != nil {
		fmt.Fprintf(env.stderr, "cordon schema: %v\n", err)
		return 1
	}
	fmt.Fprintln(env.stdout, string(b))
	return 0
}

func runPolicy(_ context.Context, env *cliEnv, args []string) int {
	fs := newFlagSet(env, "policy", "[flags] PATH...", "Print the least-privilege IAM policy for the worker role that runs these runbooks.\n\n"+
		"Each permission is granted on the resources its action names (instances, roles, users...) and under its condition;\n"+
		"the defaults are wildcards, so the policy works as it is, and the flags narrow it. The permissions AWS (or what\n"+
		"Cordon has verified of it) lets it grant only on Resource \"*\" are listed on stderr, with why.\n\n"+
		"Runbooks that keep evidence act in two accounts: --side all prints an object with both sides (the responder\n"+
		"role of each account they contain, the forensic account's role, the forensic instance profile's role and trust,\n"+
		"the handover key's policy statement and the evidence bucket's policy); --side NAME prints one of them alone.")
	var opts runbooks.PolicyOptions
	fs.StringVar(&opts.Partition, "partition", "aws", "AWS partition of the ARNs (aws, aws-cn, aws-us-gov)")
	fs.StringVar(&opts.AccountID, "account-id", "*", "the 12-digit account the worker role acts in")
	fs.StringVar(&opts.RolePath, "role-path", "/", "IAM path of the roles the runbooks may contain, e.g. /workloads/")
	fs.StringVar(&opts.PassRolePath, "pass-role-path", "/", "IAM path of the roles of quarantine and forensic instance profiles (passed to EC2)")
	fs.StringVar(&opts.UserPath, "user-path", "/", "IAM path of the users the runbooks may contain")
	fs.StringVar(&opts.ForensicAccountID, "forensic-account-id", "*", "the 12-digit forensic account (evidence.account's)")
	fs.StringVar(&opts.EvidenceBucket, "evidence-bucket", "*", "the evidence bucket (evidence.bucket)")
	fs.StringVar(&opts.EvidencePrefix, "evidence-prefix", "", "the evidence store's key prefix (evidence.prefix)")
	fs.StringVar(&opts.ForensicProfileRole, "forensic-profile-role", "cordon-forensic", "the role of the forensic instance profile")
	side := fs.String("side", "", "print one document of runbooks that keep evidence ("+strings.Join(policySides(), ", ")+"), or all for every document of both sides (default: the responder role's policy)")
	forIntake := fs.Bool("intake", false, "print the detection intake's role policy instead: its queue and the finding reads the runbooks' triggers need")
	queueARN := fs.String("queue-arn", "", "with --intake: the ARN of the queue the EventBridge rule targets (default any queue of --account-id)")
	paths, exit, ok := parsePositional(fs, args, 1, -1)
	if !ok {
		return exit
	}
	if *forIntake {
		return printIntakePolicy(env, paths, intake.PolicyOptions{Partition: opts.Partition, AccountID: opts.AccountID, QueueARN: *queueARN})
	}
	if err := opts.Validate(); err != nil {
		fmt.Fprintf(env.stderr, "cordon policy: %v\n", err)
		return 2
	}
	if *side != "" && *side != "all" && !slices.Contains(policySides(), *side) {
		fmt.Fprintf(env.stderr, "cordon policy: --side %q is not one of %s\n", *side, strings.Join(policySides(), ", "))
		return 2
	}
	plans, ok := compileFiles(env, paths)
	if !ok {
		return 1
	}
	policy, unscoped := runbooks.LeastPrivilegePolicy(actions.Catalog(), opts, plans...)
	forensic, forensicUnscoped := runbooks.ForensicSide(actions.Catalog(), opts, plans...)
	if len(policy.Statement) == 0 && forensic == nil {
		fmt.Fprintln(env.stderr, "cordon policy: these runbooks call no AWS API; the worker needs no IAM permissions for them")
		return 0
	}
	if code := printPolicies(env, policy, forensic, *side); code != 0 {
		return code
	}
	reportUnscoped(env, "", unscoped)
	if forensic != nil {
		reportUnscoped(env, "the forensic role: ", forensicUnscoped)
		if ph := forensic.Placeholders(); len(ph) > 0 {
			fmt.Fprintf(env.stderr, "cordon policy: the key and bucket policies name %s: give --account-id and --forensic-account-id to fill them in\n",
				strings.Join(ph, " and "))
		}
	}
	if slices.ContainsFunc(plans, func(p *runbooks.Plan) bool { return len(p.Triggers) > 0 }) {
		fmt.Fprintln(env.stderr, "cordon policy: these runbooks have triggers: the detection intake's role has a policy of its own (cordon policy --intake)")
	}
	return 0
}

// policySides are the documents --side can print.
func policySides() []string {
	return []string{"responder_role", "forensic_role", "forensic_instance_profile_role", "forensic_instance_profile_trust",
		"handover_key_policy_statements", "evidence_bucket_policy"}
}

// printPolicies prints the responder role's policy alone when the
// runbooks stay in their accounts, both sides otherwise, or one side.
func printPolicies(env *cliEnv, responder runbooks.IAMPolicy, forensic *runbooks.ForensicPolicies, side string) int {
	if forensic == nil {
		if side != "" && side != "responder_role" {
			fmt.Fprintf(env.stderr, "cordon policy: these runbooks do not act in the forensic account: there is no %s\n", side)
			return 1
		}
		fmt.Fprintln(env.stdout, string(responder.JSON()))
		return 0
	}
	both := struct {
		ResponderRole runbooks.IAMPolicy `json:"responder_role"`
		*runbooks.ForensicPolicies
	}{responder, forensic}
	switch side {
	case "":
		// The CLI contract (DESIGN.md): cordon policy prints the worker
		// role's IAM policy, a document IAM takes as it is. The forensic
		// side's documents are asked for by name.
		fmt.Fprintln(env.stdout, string(responder.JSON()))
		fmt.Fprintf(env.stderr, "cordon policy: these runbooks also act in the forensic account: --side all prints every document of both sides (--side NAME one of %s)\n",
			strings.Join(policySides()[1:], ", "))
		return 0
	case "all":
		return writeJSON(env, both)
	}
	b, err := json.Marshal(both)
	if err != nil {
		fmt.Fprintf(env.stderr, "cordon policy: %v\n", err)
		return 1
	}
	var docs map[string]json.RawMessage
	if err := json.Unmarshal(b, &docs); err != nil || docs[side] == nil {
		fmt.Fprintf(env.stderr, "cordon policy: these runbooks need no %s\n", side)
		return 1
	}
	return writeJSON(env, docs[side])
}

// reportUnscoped lists on stderr the permissions granted on Resource "*".
func reportUnscoped(env *cliEnv, whose string, unscoped []runbooks.Unscoped) {
	if len(unscoped) == 0 {
		return
	}
	fmt.Fprintf(env.stderr, "cordon policy: %s%d permission(s) stay on Resource \"*\":\n", whose, len(unscoped))
	for _, u := range unscoped {
		fmt.Fprintf(env.stderr, "  %s: %s\n", u.Permission, u.Reason)
	}
}

func runActions(_ context.Context, env *cliEnv, args []string) int {
	fs := newFlagSet(env, "actions", "[--json]", "List the action catalog.")
	out := registerOutput(fs, "text", "json")
	asMarkdown := fs.Bool("markdown", false, "print the action reference as Markdown (docs/actions.md)")
	_, format, exit, ok := out.parse(env, fs, args, 0, -1)
	if !ok {
		return exit
	}
	catalog := actions.Catalog()
	all := catalog.Actions()
	switch {
	case format == "json":
		return writeJSON(env, all)
	case *asMarkdown:
		if err := actions.WriteMarkdown(env.stdout, catalog); err != nil {
			fmt.Fprintf(env.stderr, "cordon actions: %v\n", err)
			return 1
		}
		return 0
	}
	tw := tableWriter(env)
	for _, a := range all {
		mark := ""
		if a.Destructive {
			mark = "destructive"
		} else if a.Mutating {
			mark = "changes"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", a.Name, mark, a.Summary)
	}
	tw.Flush()
	return 0
}

func writeJSON(env *cliEnv, v any) int {
	enc := json.NewEncoder(env.stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		fmt.Fprintf(env.stderr, "cordon: encode JSON: %v\n", err)
		return 1
	}
	return 0
}
