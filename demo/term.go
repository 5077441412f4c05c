package demo

import "os"

// IsTerminal reports whether f is a terminal: a character device other
// than the null device, which is one too and is what "no stdin" often
// means (cmd </dev/null, CI runners): treating it as a person would ask
// questions nobody can answer.
func IsTerminal(f *os.File) bool {
	fi, err := f.Stat()
	if err != nil || fi.Mode()&os.ModeCharDevice == 0 {
		return false
	}
	if null, err := os.Stat(os.DevNull); err == nil && os.SameFile(fi, null) {
		return false
	}
	return true
}
