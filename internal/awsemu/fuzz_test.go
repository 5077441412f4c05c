package awsemu

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// FuzzParseQuery throws arbitrary form bodies and Authorization headers at
// the full request path: decoding, list parsing, dispatch and handlers must
// answer, never panic, and never answer 5xx without injected faults.
func FuzzParseQuery(f *testing.F) {
	seeds := []struct{ auth, body string }{
		{"AWS4-HMAC-SHA256 Credential=AKIDEMU/20261126/us-east-1/ec2/aws4_request, SignedHeaders=host, Signature=0",
			"Action=DescribeInstances&Version=2016-11-15&Filter.1.Name=tag:App&Filter.1.Value.1=confluence&MaxResults=5"},
		{"AWS4-HMAC-SHA256 Credential=AKIDEMU/20261126/us-east-1/ec2/aws4_request",
			"Action=AuthorizeSecurityGroupEgress&Version=2016-11-15&GroupId=sg-1&IpPermissions.1.IpProtocol=tcp&IpPermissions.1.FromPort=99999"},
		{"AWS4-HMAC-SHA256 Credential=AKIDEMU/20261126/us-east-1/ec2/aws4_request",
			"Action=CreateTags&Version=2016-11-15&ResourceId.1=i-x&Tag.1.Key=a&Tag.0.Key=b&Tag.01.Key=c"},
		{"AWS4-HMAC-SHA256 Credential=AKIDEMU/20261126/us-east-1/autoscaling/aws4_request",
			"Action=DetachInstances&Version=2011-01-01&InstanceIds.member.1=i-1&AutoScalingGroupName=g"},
		{"AWS4-HMAC-SHA256 Credential=AKIDEMU/20261126/us-east-1/elasticloadbalancing/aws4_request",
			"Action=RegisterTargets&Version=2015-12-01&TargetGroupArn=x&Targets.member.1.Id=i-1&Targets.member.1.Port=-5"},
		{"AWS4-HMAC-SHA256 Credential=AKIDEMU/20261126/us-east-1/sts/aws4_request",
			"Action=AssumeRole&Version=2011-06-15&RoleArn=arn:aws:iam::123456789012:role/x&RoleSessionName=s&DurationSeconds=1e9"},
		{"AWS4-HMAC-SHA256 Credential=/////", "%%%"},
		{"", ""},
	}
	for _, s := range seeds {
		f.Add(s.auth, s.body)
	}
	f.Fuzz(func(t *testing.T, auth, body string) {
		e := New(Options{})
		if _, err := e.SeedFleet(FleetSpec{Instances: 2, InAutoScalingGroup: 1, BehindTargetGroup: 1, WithInstanceRole: true}); err != nil {
			t.Fatal(err)
		}
		req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Authorization", auth)
		rec := httptest.NewRecorder()
		e.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("status %d for body %q: %s", rec.Code, body, rec.Body.String())
		}
		if p := (params{v: req.Form}); p.v != nil {
			_ = p.list("InstanceId")
			_ = p.structs("Filter")
			_ = p.tagSpecs("instance")
		}
	})
}

func TestGlobMatch(t *testing.T) {
	cases := []struct {
		pattern, s string
		want       bool
	}{
		{"*", "", true}, {"cordon:*", "cordon:run", true}, {"i-0?", "i-01", true},
		{"a*b*c", "axxbyyc", true}, {"a*b", "ac", false}, {"", "x", false},
	}
	for _, c := range cases {
		if got := globMatch(c.pattern, c.s); got != c.want {
			t.Errorf("globMatch(%q, %q) = %v", c.pattern, c.s, got)
		}
	}
}
