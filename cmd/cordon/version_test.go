package main

import (
	"encoding/json"
	"fmt"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"

	"go.temporal.io/sdk/temporal"

	"github.com/cordon-ir/cordon/runbooks"
)

// sdkFromBuildInfo is the Temporal SDK version this test binary records.
func sdkFromBuildInfo(t *testing.T) string {
	t.Helper()
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		t.Fatal("the test binary has no build info")
	}
	for _, d := range bi.Deps {
		if d.Path == temporalSDKModule {
			if d.Replace != nil && d.Replace.Version != "" {
				return d.Replace.Version
			}
			return d.Version
		}
	}
	t.Fatalf("%s is not among the test binary's dependencies", temporalSDKModule)
	return ""
}

func TestVersionPrintsGoAndSDKFromBuildInfo(t *testing.T) {
	sdk := sdkFromBuildInfo(t)
	// The build info agrees with the SDK compiled in.
	if sdk != "v"+temporal.SDKVersion {
		t.Errorf("build info says %s, the SDK says %s", sdk, temporal.SDKVersion)
	}
	for _, args := range [][]string{{"version"}, {"--version"}} {
		out := cordonOK(t, args...)
		// A test binary's main module is "(devel)" with no commit: it
		// reads as devel, not as an empty or parenthesised version.
		mustContain(t, fmt.Sprintf("%v: output", args), out, "cordon devel\n", runtime.Version(), "temporal sdk:  "+sdk,
			"plan format:   "+strconv.Itoa(runbooks.PlanVersion), runtime.GOOS+"/"+runtime.GOARCH)
		if strings.Contains(out, "(devel)") || strings.Contains(out, "commit:") {
			t.Errorf("%v: a build without version control info should say devel and no commit:\n%s", args, out)
		}
	}
}

func TestVersionJSON(t *testing.T) {
	out := cordonOK(t, "version", "--json")
	var v map[string]any
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("%v:\n%s", err, out)
	}
	want := map[string]any{"version": "devel", "go_version": runtime.Version(), "temporal_sdk": sdkFromBuildInfo(t),
		"plan_version": float64(runbooks.PlanVersion), "platform": runtime.GOOS + "/" + runtime.GOARCH}
	for k, w := range want {
		if v[k] != w {
			t.Errorf("%s = %v, want %v", k, v[k], w)
		}
	}
	if _, _, code := cordon(t, "version", "extra"); code != 2 {
		t.Errorf("version with an argument: exit %d, want 2", code)
	}
}

// What a release or a checkout build records, and what is missing when a
// binary carries no build info at all.
func TestReadVersion(t *testing.T) {
	checkout := &debug.BuildInfo{
		GoVersion: "go1.26.8",
		Main:      debug.Module{Path: "github.com/cordon-ir/cordon", Version: "v0.3.1-0.20260102030405-abcdef123456+dirty"},
		Deps: []*debug.Module{
			{Path: "github.com/aws/aws-sdk-go-v2", Version: "v1.36.0"},
			{Path: temporalSDKModule, Version: "v1.50.0"},
		},
		Settings: []debug.BuildSetting{
			{Key: "vcs", Value: "git"},
			{Key: "vcs.revision", Value: "abcdef1234567890"},
			{Key: "vcs.time", Value: "2026-01-02T03:04:05Z"},
			{Key: "vcs.modified", Value: "true"},
		},
	}
	v := readVersion(checkout, true, versionOverride{})
	if v.Version != checkout.Main.Version || v.Commit != "abcdef1234567890" || !v.Modified ||
		v.CommitTime != "2026-01-02T03:04:05Z" || v.TemporalSDK != "v1.50.0" || v.GoVersion != "go1.26.8" {
		t.Errorf("checkout build: %+v", v)
	}
	var b strings.Builder
	writeVersion(&b, v)
	if !strings.Contains(b.String(), "commit:        abcdef1234567890 (modified)") {
		t.Errorf("text:\n%s", b.String())
	}

	release := readVersion(checkout, true, versionOverride{version: "v1.2.0", buildDate: "2026-01-31T10:00:00Z"})
	if release.Version != "v1.2.0" || release.BuildDate != "2026-01-31T10:00:00Z" || release.Commit != "abcdef1234567890" {
		t.Errorf("-X overrides: %+v", release)
	}
	// A container build has no .git: the commit comes from -X main.commit.
	container := readVersion(&debug.BuildInfo{Main: debug.Module{Version: "(devel)"}}, true, versionOverride{version: "v1.2.0", commit: "0123abc"})
	if container.Version != "v1.2.0" || container.Commit != "0123abc" || container.Modified {
		t.Errorf("-X main.commit: %+v", container)
	}

	replaced := &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Deps: []*debug.Module{
		{Path: temporalSDKModule, Version: "v1.50.0", Replace: &debug.Module{Path: "../sdk-go"}},
	}}
	if v := readVersion(replaced, true, versionOverride{}); v.Version != "devel" || v.TemporalSDK != "v1.50.0 (replaced by ../sdk-go)" {
		t.Errorf("replaced SDK: %+v", v)
	}

	none := readVersion(nil, false, versionOverride{})
	if none.Version != "devel" || none.TemporalSDK != "v"+temporal.SDKVersion || none.GoVersion != runtime.Version() || none.Commit != "" {
		t.Errorf("no build info: %+v", none)
	}
}
