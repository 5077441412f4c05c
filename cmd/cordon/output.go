package main

import (
	"flag"
	"fmt"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
)

// Output conventions, the same on every command that prints state:
// --json, or -o json, prints JSON on stdout (the default format is the
// command's text); NO_COLOR (any non-empty value, https://no-color.org)
// turns colours off; a value that is not there prints as (none).

// outputFlags are --json and -o FORMAT.
type outputFlags struct {
	json   bool
	format string
	// formats are the formats the command knows, its default first.
	formats []string
}

// registerOutput adds --json and -o to fs; formats are the command's
// formats, its default first (json among them).
func registerOutput(fs *flag.FlagSet, formats ...string) *outputFlags {
	o := &outputFlags{formats: formats}
	fs.BoolVar(&o.json, "json", false, "print JSON (the same as -o json)")
	fs.StringVar(&o.format, "o", "", "output format: "+strings.Join(formats, " or ")+" (default "+formats[0]+")")
	return o
}

// parse parses the command line of a command with output flags, as
// parsePositional does (least to most positional arguments, most < 0 for
// any number), then resolves the format; when ok is false, exit is the
// command's exit code.
func (o *outputFlags) parse(env *cliEnv, fs *flag.FlagSet, args []string, least, most int) (pos []string, format string, exit int, ok bool) {
	if pos, exit, ok = parsePositional(fs, args, least, most); !ok {
		return nil, "", exit, false
	}
	if format, ok = o.resolve(env, fs.Name()); !ok {
		return nil, "", 2, false
	}
	return pos, format, 0, true
}

// resolve is the format asked for; ok is false (after saying why on
// stderr) when the flags disagree or name an unknown format.
func (o *outputFlags) resolve(env *cliEnv, command string) (string, bool) {
	format := o.format
	if o.json {
		if format != "" && format != "json" {
			fmt.Fprintf(env.stderr, "cordon %s: --json and -o %s disagree\n", command, format)
			return "", false
		}
		format = "json"
	}
	if format == "" {
		return o.formats[0], true
	}
	if !slices.Contains(o.formats, format) {
		fmt.Fprintf(env.stderr, "cordon %s: output format %q: want %s\n", command, format, strings.Join(o.formats, " or "))
		return "", false
	}
	return format, true
}

// noColor says colours are off: NO_COLOR is set to anything but "".
func noColor() bool { return os.Getenv("NO_COLOR") != "" }

// tableWriter lays out what a command prints as a table (cells separated
// by tabs, rows by newlines) on its standard output, in aligned columns;
// the caller flushes it. Every table of the CLI has the same spacing.
func tableWriter(env *cliEnv) *tabwriter.Writer {
	return tabwriter.NewWriter(env.stdout, 0, 4, 2, ' ', 0)
}

// none is how a value that is not there prints: never <nil> or an empty
// column.
const none = "(none)"

// orNone is s, or (none) when s is empty.
func orNone(s string) string {
	if s == "" {
		return none
	}
	return s
}

// valueText prints a value of a change, an input or an output: nil and
// "" as (none).
func valueText(v any) string {
	if v == nil {
		return none
	}
	if s := fmt.Sprint(v); s != "" && s != "<nil>" {
		return s
	}
	return none
}
