package slack

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/cordon-ir/cordon/actions"
	"github.com/cordon-ir/cordon/runbooks"
	"github.com/cordon-ir/cordon/workflows"
)

// Usage is what /cordon help answers.
const Usage = "*/cordon* — steer containments from Slack\n" +
	"• `/cordon run RUNBOOK key=value… [--incident=INC-1] [--dry-run]` start a runbook from the configured directory\n" +
	"• `/cordon status RUN` steps, waiting gates\n" +
	"• `/cordon pause RUN [reason]`, `/cordon resume RUN [reason]`\n" +
	"• `/cordon abort RUN reason` cancel what is in flight, start nothing more\n" +
	"• `/cordon skip RUN STEP reason` skip a pending step or one waiting at its gate\n" +
	"Approve or deny gates with the buttons on their messages."

// command is a parsed /cordon invocation.
type command struct {
	Verb     string // run, status, pause, resume, abort, skip, help
	Runbook  string
	Inputs   map[string]string
	Incident string
	DryRun   bool
	RunID    string
	Step     string
	Reason   string
}

var runbookName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$`)

// parseCommand reads the text after /cordon. It only splits words: what a
// runbook's inputs mean is the compiler's business, and whether the user
// may do it is the workflow's.
func parseCommand(text string) (command, error) {
	words := strings.Fields(text)
	if len(words) == 0 {
		return command{Verb: "help"}, nil
	}
	c := command{Verb: strings.ToLower(words[0])}
	args := words[1:]
	switch c.Verb {
	case "help":
		return c, nil
	case "run":
		if len(args) == 0 {
			return c, errors.New("which runbook? `/cordon run RUNBOOK key=value…`")
		}
		c.Runbook, args = args[0], args[1:]
		if !runbookName.MatchString(c.Runbook) || strings.Contains(c.Runbook, "..") {
			return c, fmt.Errorf("%q is not a runbook name (letters, digits, . _ -)", c.Runbook)
		}
		c.Inputs = map[string]string{}
		for _, a := range args {
			switch {
			case a == "--dry-run":
				c.DryRun = true
			case strings.HasPrefix(a, "--incident="):
				c.Incident = strings.TrimPrefix(a, "--incident=")
			case strings.HasPrefix(a, "--"):
				return c, fmt.Errorf("unknown option %s (known: --incident=ID, --dry-run)", a)
			default:
				k, v, ok := strings.Cut(a, "=")
				if !ok || k == "" {
					return c, fmt.Errorf("want key=value, got %q", a)
				}
				if _, dup := c.Inputs[k]; dup {
					return c, fmt.Errorf("input %s given twice", k)
				}
				c.Inputs[k] = v
			}
		}
		return c, nil
	case "status", "pause", "resume", "abort":
		if len(args) == 0 {
			return c, fmt.Errorf("which run? `/cordon %s RUN`", c.Verb)
		}
		c.RunID, c.Reason = args[0], strings.Join(args[1:], " ")
		return c, nil
	case "skip":
		if len(args) < 2 {
			return c, errors.New("which run and step? `/cordon skip RUN STEP reason`")
		}
		c.RunID, c.Step, c.Reason = args[0], args[1], strings.Join(args[2:], " ")
		return c, nil
	}
	return c, fmt.Errorf("unknown command %q; `/cordon help` lists them", c.Verb)
}

// requestAction maps a verb to the request it sends.
func requestAction(verb string) string {
	switch verb {
	case "run":
		return workflows.ActStart
	case "pause":
		return workflows.ActPause
	case "resume":
		return workflows.ActResume
	case "abort":
		return workflows.ActAbort
	case "skip":
		return workflows.ActSkip
	}
	return ""
}

// compileRunbook compiles NAME(.yaml|.yml) from dir and resolves its
// inputs, with the same checks as cordon run.
func compileRunbook(dir, name string, raw map[string]string) (*runbooks.Plan, map[string]any, error) {
	if dir == "" {
		return nil, nil, errors.New("no runbook directory is configured (slack.runbook_dir)")
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.yaml"))
	more, _ := filepath.Glob(filepath.Join(dir, "*.yml"))
	files = append(files, more...)
	sort.Strings(files)
	var path string
	for _, ext := range []string{".yaml", ".yml"} {
		p := filepath.Join(dir, name+ext)
		if _, err := os.Stat(p); err == nil {
			path = p
			break
		}
	}
	if path == "" {
		names := make([]string, 0, len(files))
		for _, f := range files {
			names = append(names, strings.TrimSuffix(strings.TrimSuffix(filepath.Base(f), ".yaml"), ".yml"))
		}
		return nil, nil, fmt.Errorf("no runbook %q; available: %s", name, strings.Join(names, ", "))
	}
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("read runbook %s: %w", name, err)
	}
	plan, diags := runbooks.NewCompiler(actions.Catalog(), runbooks.NewDirResolver(files...)).Compile(path, src)
	if plan == nil {
		return nil, nil, fmt.Errorf("runbook %s does not compile:\n%s", name, diags.Error())
	}
	inputs, err := plan.ResolveInputs(raw)
	if err != nil {
		return nil, nil, fmt.Errorf("runbook %s: %w", name, err)
	}
	return plan, inputs, nil
}
