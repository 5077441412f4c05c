package awsemu

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// A finding (GuardDuty's or Security Hub's) is kept as the JSON document a
// test seeded, decoded with json.Number so numbers come back as they went
// in: the emulator reads and sets only the few fields its operations need,
// and the SDK decodes the rest as it would AWS's answer.

// parseDocument decodes a JSON object.
func parseDocument(raw json.RawMessage) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var doc map[string]any
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("not a JSON object: %w", err)
	}
	if doc == nil {
		return nil, errors.New("not a JSON object: null")
	}
	if dec.More() {
		return nil, errors.New("more than one JSON value")
	}
	return doc, nil
}

// cloneDocument deep-copies a document, so that what a handler returns
// cannot alias state a later call changes.
func cloneDocument(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = cloneDocument(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = cloneDocument(e)
		}
		return out
	}
	return v
}

// child returns doc[key] as an object, creating it when absent; ok is
// false when doc[key] is something else.
func child(doc map[string]any, key string) (map[string]any, bool) {
	switch v := doc[key].(type) {
	case map[string]any:
		return v, true
	case nil:
		m := map[string]any{}
		doc[key] = m
		return m, true
	}
	return nil, false
}

// checkTypes reports the first of the named top-level fields whose value
// is present but not of the JSON type its SDK decodes it as ("string",
// "number", "object", "boolean" or "array").
func checkTypes(doc map[string]any, want map[string]string) error {
	for _, k := range sortedKeys(want) {
		v, ok := doc[k]
		if !ok {
			continue
		}
		var good bool
		switch want[k] {
		case "string":
			_, good = v.(string)
		case "number":
			_, good = v.(json.Number)
		case "object":
			_, good = v.(map[string]any)
		case "boolean":
			_, good = v.(bool)
		case "array":
			_, good = v.([]any)
		}
		if !good {
			return fmt.Errorf("field %q must be a JSON %s", k, want[k])
		}
	}
	return nil
}

// valuesAt collects the scalars at a dotted path, fanning out over arrays
// on the way ("resource.instanceDetails.networkInterfaces.privateIpAddress"
// yields every interface's address).
func valuesAt(v any, path []string) []any {
	switch x := v.(type) {
	case []any:
		var out []any
		for _, e := range x {
			out = append(out, valuesAt(e, path)...)
		}
		return out
	case map[string]any:
		if len(path) == 0 {
			return nil
		}
		return valuesAt(x[path[0]], path[1:])
	case nil:
		return nil
	}
	if len(path) > 0 {
		return nil
	}
	return []any{v}
}

// scalarText is how a filter compares a scalar with a string value.
func scalarText(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case json.Number:
		return x.String()
	case bool:
		return strconv.FormatBool(x)
	}
	return ""
}

// scalarNumber reads a scalar as a number: a JSON number, or a timestamp
// string as epoch milliseconds (how GuardDuty compares updatedAt).
func scalarNumber(v any) (float64, bool) {
	switch x := v.(type) {
	case json.Number:
		f, err := x.Float64()
		return f, err == nil
	case string:
		if t, err := time.Parse(time.RFC3339Nano, x); err == nil {
			return float64(t.UnixMilli()), true
		}
	}
	return 0, false
}

// compareScalars orders two scalars for sorting: numbers (and timestamps)
// by value, anything else by text; missing values last.
func compareScalars(a, b []any) int {
	switch {
	case len(a) == 0 && len(b) == 0:
		return 0
	case len(a) == 0:
		return 1
	case len(b) == 0:
		return -1
	}
	na, oka := scalarNumber(a[0])
	nb, okb := scalarNumber(b[0])
	if oka && okb {
		switch {
		case na < nb:
			return -1
		case na > nb:
			return 1
		}
		return 0
	}
	return strings.Compare(scalarText(a[0]), scalarText(b[0]))
}

// sortDocuments sorts documents stably by the value at a dotted path.
func sortDocuments(docs []map[string]any, path string, descending bool) {
	keys := strings.Split(path, ".")
	slices.SortStableFunc(docs, func(x, y map[string]any) int {
		c := compareScalars(valuesAt(x, keys), valuesAt(y, keys))
		if descending {
			return -c
		}
		return c
	})
}

// isoMillis is the timestamp format of GuardDuty and Security Hub
// findings.
func isoMillis(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }
