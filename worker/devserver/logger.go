package devserver

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"

	"go.temporal.io/server/common/log"
	"go.temporal.io/server/common/log/tag"
)

// fatalError is what serverLogger.Fatal panics with. The server calls Fatal for
// conditions such as "address already in use" while it is being built and
// started; its own zap logger would then exit the process. Start recovers this
// panic on its goroutine and returns it as an error, so that `cordon dev` can
// report a busy port instead of vanishing.
type fatalError struct {
	msg   string
	attrs []slog.Attr
}

func (e *fatalError) Error() string {
	s := "temporal server: " + e.msg
	for _, a := range e.attrs {
		s += fmt.Sprintf(" %s=%v", a.Key, a.Value)
	}
	return s
}

// serverLogger adapts the server's log.Logger interface to log/slog.
//
// The server logs a great deal at Info (every service start, every shard
// movement), so records below minLevel are dropped before their tags are
// converted: converting a tag runs a zap encoder, which is the expensive part.
type serverLogger struct {
	l        *slog.Logger
	minLevel slog.Leveler
	// prefix holds tags from With, converted only when a record is emitted:
	// the server calls With on hot paths (per workflow, per shard) whose
	// records are almost always below minLevel.
	prefix []tag.Tag
	// stopping is shared by every logger derived from one server. Once Stop
	// begins, the server logs each poll, dial and persistence call that the
	// shutdown cuts short, at Warn and Error; none of it is news, so only
	// Panic and Fatal still get through.
	stopping *atomic.Bool
}

var (
	_ log.Logger     = (*serverLogger)(nil)
	_ log.WithLogger = (*serverLogger)(nil)
)

func newServerLogger(l *slog.Logger, minLevel slog.Leveler) *serverLogger {
	return &serverLogger{
		l:        l.With("component", "temporal-server"),
		minLevel: minLevel,
		stopping: new(atomic.Bool),
	}
}

// expectedAtStart reports warnings that every dev server start produces
// because of choices made here on purpose; they are demoted to Info.
func expectedAtStart(msg string) bool {
	// We open no HTTP API port, so Nexus endpoints are off.
	return strings.HasPrefix(msg, "HTTP API port has not been set")
}

func (s *serverLogger) log(level slog.Level, msg string, tags []tag.Tag) {
	if s.stopping.Load() {
		return
	}
	if level == slog.LevelWarn && expectedAtStart(msg) {
		level = slog.LevelInfo
	}
	if level < s.minLevel.Level() || !s.l.Enabled(context.Background(), level) {
		return
	}
	s.l.LogAttrs(context.Background(), level, msg, s.attrs(tags)...)
}

func (s *serverLogger) attrs(tags []tag.Tag) []slog.Attr {
	return append(tagsToAttrs(s.prefix), tagsToAttrs(tags)...)
}

func tagsToAttrs(tags []tag.Tag) []slog.Attr {
	attrs := make([]slog.Attr, 0, len(tags))
	for _, t := range tags {
		attrs = append(attrs, slog.Any(t.Key(), t.Value()))
	}
	return attrs
}

func (s *serverLogger) Debug(msg string, tags ...tag.Tag) { s.log(slog.LevelDebug, msg, tags) }
func (s *serverLogger) Info(msg string, tags ...tag.Tag)  { s.log(slog.LevelInfo, msg, tags) }
func (s *serverLogger) Warn(msg string, tags ...tag.Tag)  { s.log(slog.LevelWarn, msg, tags) }
func (s *serverLogger) Error(msg string, tags ...tag.Tag) { s.log(slog.LevelError, msg, tags) }

// DPanic is a development-only panic in zap; the server treats it as an
// error that must not stop production, so it is logged and nothing more.
func (s *serverLogger) DPanic(msg string, tags ...tag.Tag) { s.log(slog.LevelError, msg, tags) }

// Panic logs and panics, as the server expects: callers rely on it not returning.
func (s *serverLogger) Panic(msg string, tags ...tag.Tag) {
	attrs := s.attrs(tags)
	s.l.LogAttrs(context.Background(), slog.LevelError, msg, attrs...)
	panic(&fatalError{msg: msg, attrs: attrs})
}

// Fatal logs and panics instead of exiting; see fatalError.
func (s *serverLogger) Fatal(msg string, tags ...tag.Tag) {
	attrs := s.attrs(tags)
	s.l.LogAttrs(context.Background(), slog.LevelError, msg, attrs...)
	panic(&fatalError{msg: msg, attrs: attrs})
}

// With implements log.WithLogger; without it the server wraps every logger in
// a generic prepender that does the same thing less directly.
func (s *serverLogger) With(tags ...tag.Tag) log.Logger {
	prefix := make([]tag.Tag, 0, len(s.prefix)+len(tags))
	prefix = append(append(prefix, s.prefix...), tags...)
	return &serverLogger{l: s.l, minLevel: s.minLevel, prefix: prefix, stopping: s.stopping}
}
