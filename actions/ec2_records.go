package actions

import (
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// Records are what an action writes on a resource before changing it, so
// that a retried attempt (or a later restore) knows the state before the
// first attempt touched anything. They live in tags, which survive worker
// crashes and are visible to responders in the console.

// maxRecordChunk is the longest value one record tag holds: EC2 accepts
// tag values up to 256 characters.
const maxRecordChunk = 255

// recordTags splits value into tags key, key:2, key:3, ... each at most
// maxRecordChunk long, cutting only at commas so that every tag stays
// readable on its own (a list of whole group ids).
func recordTags(key, value string) ([]ec2types.Tag, error) {
	var chunks []string
	current := ""
	for _, part := range strings.Split(value, ",") {
		if len(part) > maxRecordChunk {
			return nil, fmt.Errorf("record %s: element %.40q... is longer than a tag value can hold", key, part)
		}
		switch {
		case current == "":
			current = part
		case len(current)+1+len(part) <= maxRecordChunk:
			current += "," + part
		default:
			chunks = append(chunks, current)
			current = part
		}
	}
	chunks = append(chunks, current)
	tags := make([]ec2types.Tag, 0, len(chunks))
	for i, c := range chunks {
		tags = append(tags, ec2types.Tag{Key: aws.String(recordKey(key, i)), Value: aws.String(c)})
	}
	return tags, nil
}

// recordKey names the i-th (0-based) tag of a record.
func recordKey(key string, i int) string {
	if i == 0 {
		return key
	}
	return key + ":" + strconv.Itoa(i+1)
}

// readRecord joins a record written by recordTags; ok is false when the
// resource carries none.
func readRecord(tags map[string]string, key string) (value string, ok bool) {
	first, ok := tags[key]
	if !ok {
		return "", false
	}
	parts := []string{first}
	for i := 1; ; i++ {
		next, more := tags[recordKey(key, i)]
		if !more {
			break
		}
		parts = append(parts, next)
	}
	return strings.Join(parts, ","), true
}

// recordTagKeys lists every tag of a record present on a resource,
// including continuation tags left from an older, longer record, sorted.
func recordTagKeys(tags map[string]string, key string) []string {
	var keys []string
	for k := range tags {
		if k == key {
			keys = append(keys, k)
			continue
		}
		if n, ok := strings.CutPrefix(k, key+":"); ok {
			if _, err := strconv.Atoi(n); err == nil {
				keys = append(keys, k)
			}
		}
	}
	slices.Sort(keys)
	return keys
}

func ec2TagMap(tags []ec2types.Tag) map[string]string {
	m := make(map[string]string, len(tags))
	for _, t := range tags {
		m[aws.ToString(t.Key)] = aws.ToString(t.Value)
	}
	return m
}

// ec2Tags turns a tag map into EC2 tags, sorted by key so requests are
// the same on every attempt.
func ec2Tags(m map[string]string) []ec2types.Tag {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	out := make([]ec2types.Tag, 0, len(keys))
	for _, k := range keys {
		out = append(out, ec2types.Tag{Key: aws.String(k), Value: aws.String(m[k])})
	}
	return out
}

func splitCommaList(s string) []string {
	if s == "" {
		return []string{}
	}
	return strings.Split(s, ",")
}

// Records of the actions whose change removes what they would report
// (metadata turned off, instance stopped), kept on the instance so that a
// retried attempt, whose first try changed the instance but lost the
// answer, still reports the value from before.
const (
	// TagPriorMetadata records the metadata options before
	// aws.ec2.disable_instance_metadata turned the endpoint off.
	TagPriorMetadata = "cordon:prior-metadata"
	// TagPriorState records the instance state (and stop protection)
	// before aws.ec2.stop_instance stopped it.
	TagPriorState = "cordon:prior-state"
	// TagInstanceStoreCaptured, set by responders (aws.ec2.tag) once the
	// instance-store disks are imaged, lets aws.ec2.stop_instance stop an
	// instance whose instance-store data a stop would lose.
	TagInstanceStoreCaptured = "cordon:instance-store-captured"
)

// stepRecord is the value of a record that belongs to one step execution:
// "step=<run>/<step>;k=v;...", fields sorted, values query-escaped. A
// record left by another run or step describes another change and is not
// this step's "before".
func stepRecord(x *execution, fields map[string]string) string {
	keys := make([]string, 0, len(fields))
	for k := range fields {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	parts := []string{"step=" + url.QueryEscape(x.call.Run.RunID+"/"+x.stepKey())}
	for _, k := range keys {
		parts = append(parts, k+"="+url.QueryEscape(fields[k]))
	}
	return strings.Join(parts, ";")
}

// readStepRecord reads a record written by stepRecord for this step
// execution; ok is false when there is none, or it is another step's, or
// it cannot be read.
func readStepRecord(x *execution, tags map[string]string, key string) (fields map[string]string, ok bool) {
	value, found := readRecord(tags, key)
	if !found {
		return nil, false
	}
	fields, err := parseStepRecord(value)
	if err != nil || fields["step"] != x.call.Run.RunID+"/"+x.stepKey() {
		return nil, false
	}
	delete(fields, "step")
	return fields, true
}

// parseStepRecord reads the fields of a record written by stepRecord,
// whichever step wrote it (a restore reads another run's record); the
// writer is in the field "step".
func parseStepRecord(value string) (map[string]string, error) {
	fields := map[string]string{}
	for _, part := range strings.Split(value, ";") {
		k, v, cut := strings.Cut(part, "=")
		if !cut {
			return nil, fmt.Errorf("field %q is not key=value", part)
		}
		u, err := url.QueryUnescape(v)
		if err != nil {
			return nil, fmt.Errorf("field %q: %w", part, err)
		}
		fields[k] = u
	}
	return fields, nil
}
