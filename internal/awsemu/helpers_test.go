package awsemu_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"
)

func sameJSON(t *testing.T, a, b any) bool {
	t.Helper()
	ja, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	jb, err := json.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Equal(ja, jb)
}

func errorsAs(err error, target any) bool { return errors.As(err, target) }
