package main

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"

	"go.temporal.io/sdk/temporal"

	"github.com/cordon-ir/cordon/runbooks"
)

// Release builds may name their version, commit and build date:
//
//	go build -ldflags "-X main.version=v1.2.0 -X main.buildDate=2026-01-31T10:00:00Z" ./cmd/cordon
//
// Without them, cordon version reads what the Go toolchain records in every
// binary (runtime/debug.ReadBuildInfo): the module version, the commit and
// its time when built from a git checkout (unless -buildvcs=false), the Go
// version, the dependencies. main.commit is for builds without the
// checkout's .git (a container build whose context leaves it out).
var (
	version   = ""
	commit    = ""
	buildDate = ""
)

const temporalSDKModule = "go.temporal.io/sdk"

// versionInfo is what cordon version prints.
type versionInfo struct {
	Version string `json:"version"`
	Commit  string `json:"commit,omitempty"`
	// Modified: built from a checkout with uncommitted changes.
	Modified bool `json:"modified,omitempty"`
	// CommitTime is the commit's time (vcs.time), BuildDate the release
	// build's own (-X main.buildDate); either may be unknown.
	CommitTime  string `json:"commit_time,omitempty"`
	BuildDate   string `json:"build_date,omitempty"`
	GoVersion   string `json:"go_version"`
	TemporalSDK string `json:"temporal_sdk"`
	// PlanVersion is the version of the compiled plan's JSON shape
	// (runbooks.PlanVersion) this binary writes and its workflows accept.
	PlanVersion int    `json:"plan_version"`
	Platform    string `json:"platform"`
}

// readVersion describes this binary from its build information; bi is nil
// when the binary carries none. A binary built outside a module, or a test
// binary, has the main module's version "(devel)" and no commit.
func readVersion(bi *debug.BuildInfo, ok bool, override versionOverride) versionInfo {
	v := versionInfo{
		Version:     "devel",
		BuildDate:   override.buildDate,
		GoVersion:   runtime.Version(),
		TemporalSDK: "v" + temporal.SDKVersion, // the SDK compiled in, if build info does not say
		PlanVersion: runbooks.PlanVersion,
		Platform:    runtime.GOOS + "/" + runtime.GOARCH,
	}
	if ok && bi != nil {
		if bi.GoVersion != "" {
			v.GoVersion = bi.GoVersion
		}
		if mv := bi.Main.Version; mv != "" && mv != "(devel)" {
			v.Version = mv
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				v.Commit = s.Value
			case "vcs.time":
				v.CommitTime = s.Value
			case "vcs.modified":
				v.Modified = s.Value == "true"
			}
		}
		for _, d := range bi.Deps {
			if d.Path != temporalSDKModule {
				continue
			}
			v.TemporalSDK = d.Version
			if d.Replace != nil {
				v.TemporalSDK = d.Replace.Version
				if d.Replace.Version == "" {
					v.TemporalSDK = d.Version + " (replaced by " + d.Replace.Path + ")"
				}
			}
		}
	}
	if override.version != "" {
		v.Version = override.version
	}
	if override.commit != "" && override.commit != v.Commit {
		v.Commit, v.CommitTime, v.Modified = override.commit, "", false
	}
	return v
}

// versionOverride is what -X set at link time.
type versionOverride struct{ version, commit, buildDate string }

func currentVersion() versionInfo {
	bi, ok := debug.ReadBuildInfo()
	return readVersion(bi, ok, versionOverride{version: version, commit: commit, buildDate: buildDate})
}

func runVersion(_ context.Context, env *cliEnv, args []string) int {
	fs := newFlagSet(env, "version", "[--json]", "Print the version of this binary: release, commit, Go, Temporal SDK, and the plan format it writes and runs.")
	asJSON := fs.Bool("json", false, "print JSON")
	if _, exit, ok := parsePositional(fs, args, 0, 0); !ok {
		return exit
	}
	v := currentVersion()
	if *asJSON {
		return writeJSON(env, v)
	}
	writeVersion(env.stdout, v)
	return 0
}

func writeVersion(w io.Writer, v versionInfo) {
	fmt.Fprintf(w, "cordon %s\n", v.Version)
	if v.Commit != "" {
		commit := v.Commit
		if v.Modified {
			commit += " (modified)"
		}
		fmt.Fprintf(w, "  commit:        %s\n", commit)
	}
	if v.CommitTime != "" {
		fmt.Fprintf(w, "  commit time:   %s\n", v.CommitTime)
	}
	if v.BuildDate != "" {
		fmt.Fprintf(w, "  built:         %s\n", v.BuildDate)
	}
	fmt.Fprintf(w, "  go:            %s\n", v.GoVersion)
	fmt.Fprintf(w, "  temporal sdk:  %s\n", v.TemporalSDK)
	fmt.Fprintf(w, "  plan format:   %d\n", v.PlanVersion)
	fmt.Fprintf(w, "  platform:      %s\n", v.Platform)
}

// isVersionFlag lets cordon --version work as cordon version.
func isVersionFlag(arg string) bool {
	return arg == "--version" || arg == "-version"
}
