package actions

import (
	"reflect"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
)

func TestRecordTagsSplitAtCommasAndJoinBack(t *testing.T) {
	var ids []string
	for i := range 40 {
		ids = append(ids, "sg-0"+strings.Repeat(string(rune('a'+i%6)), 16))
	}
	for n := 1; n <= len(ids); n++ {
		value := strings.Join(ids[:n], ",")
		tags, err := recordTags(TagOriginalGroups, value)
		if err != nil {
			t.Fatal(err)
		}
		m := ec2TagMap(tags)
		for i, tag := range tags {
			v := aws.ToString(tag.Value)
			if len(v) > maxRecordChunk || v == "" || strings.HasPrefix(v, ",") || strings.HasSuffix(v, ",") {
				t.Fatalf("%d ids: chunk %d = %q", n, i, v)
			}
			if aws.ToString(tag.Key) != recordKey(TagOriginalGroups, i) {
				t.Fatalf("%d ids: key %d = %s", n, i, aws.ToString(tag.Key))
			}
		}
		if got, ok := readRecord(m, TagOriginalGroups); !ok || got != value {
			t.Fatalf("%d ids: read back %q, want %q", n, got, value)
		}
		if keys := recordTagKeys(m, TagOriginalGroups); len(keys) != len(tags) {
			t.Fatalf("%d ids: keys %v", n, keys)
		}
	}
	if _, ok := readRecord(map[string]string{TagOriginalGroups + ":2": "sg-1"}, TagOriginalGroups); ok {
		t.Error("a continuation without its head is not a record")
	}
	if _, err := recordTags(TagOriginalGroups, strings.Repeat("x", 300)); err == nil {
		t.Error("an element longer than a tag was accepted")
	}
}

func TestProtectionRecordRoundTrips(t *testing.T) {
	for _, p := range []instanceProtection{
		{disableAPITermination: false, shutdownBehavior: "terminate", deleteOnTermination: []string{"vol-1", "vol-2"}},
		{disableAPITermination: true, shutdownBehavior: "stop"},
	} {
		got, err := parseProtection(p.String())
		if err != nil || got.String() != p.String() {
			t.Errorf("%q → %+v, %v", p.String(), got, err)
		}
	}
	for _, p := range []instanceProtection{
		{disableAPITermination: true, shutdownBehavior: "stop", stopKnown: true, disableAPIStop: false},
		{shutdownBehavior: "terminate", stopKnown: true, disableAPIStop: true, scaleInGroup: "web;a=b,c", protectedFromScaleIn: true, deleteOnTermination: []string{"vol-1"}},
	} {
		got, err := parseProtection(p.String())
		if err != nil || !reflect.DeepEqual(got, p) {
			t.Errorf("%q → %+v, %v; want %+v", p.String(), got, err, p)
		}
	}
	// A record written before stop and scale-in protection were managed
	// still reads, with those fields unknown.
	old, err := parseProtection("disable_api_termination=false;shutdown=terminate;delete_on_termination=vol-1,vol-2")
	if err != nil || old.stopKnown || old.scaleInGroup != "" || len(old.deleteOnTermination) != 2 {
		t.Errorf("old record → %+v, %v", old, err)
	}
	for _, bad := range []string{"", "shutdown=stop", "disable_api_termination=maybe;shutdown=stop",
		"disable_api_termination=true;shutdown=stop;disable_api_stop=perhaps",
		"disable_api_termination=true;shutdown=stop;auto_scaling_group=web"} {
		if _, err := parseProtection(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}
