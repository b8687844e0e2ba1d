package session

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"time"
)

// logWindow is how long the Manager counts the repeats of a message it
// logged before it logs their count.
const logWindow = 10 * time.Second

// logDistinct is how many distinct messages a window logs at once; the
// rest are counted together.
const logDistinct = 32

// rateLog keeps the log of a failing store readable, and its volume
// bounded: during an outage every request fails the same way (11,700 lines
// a second of one error, measured against a stopped PostgreSQL). The first
// line of each kind is logged at once, with its request's attributes; its
// repeats within the next logWindow are counted, and when the window
// closes one line per kind gives the count ("repeated"), the window
// ("within") and the last repeat's text and attributes. A kind is the
// level and the text with its numbers left out (a failing connection's
// local port, an address, a size differ from one repeat to the next); the
// attributes (the path, a reason) may differ too. Past logDistinct kinds
// in a window, the rest are counted together, and the closing line quotes
// the last of them. The error handler and the metrics still see every
// request.
type rateLog struct {
	log    *slog.Logger
	window time.Duration

	mu     sync.Mutex
	counts map[rateKey]*repeats // the window's messages; nil: no window open
	over   repeats              // the messages past logDistinct
	overAt slog.Level           // the highest level among them
}

type rateKey struct {
	level slog.Level
	msg   string
}

type repeats struct {
	n     int
	msg   string      // the last repeat's text
	attrs []slog.Attr // and attributes
}

// kind is msg without its numbers: each run of digits reads "#".
func kind(msg string) string {
	i := strings.IndexAny(msg, "0123456789")
	if i < 0 {
		return msg
	}
	var b strings.Builder
	b.Grow(len(msg))
	b.WriteString(msg[:i])
	digits := false
	for _, c := range []byte(msg[i:]) {
		if c >= '0' && c <= '9' {
			if !digits {
				b.WriteByte('#')
			}
			digits = true
			continue
		}
		digits = false
		b.WriteByte(c)
	}
	return b.String()
}

func newRateLog(l *slog.Logger, window time.Duration) *rateLog {
	return &rateLog{log: l, window: window}
}

// logAttrs logs msg now if it is the first of its kind in the window, and
// counts it otherwise.
func (r *rateLog) logAttrs(ctx context.Context, level slog.Level, msg string, attrs ...slog.Attr) {
	if !r.log.Enabled(ctx, level) {
		return
	}
	k := rateKey{level, kind(msg)}
	r.mu.Lock()
	if r.counts == nil {
		r.counts = make(map[rateKey]*repeats)
		time.AfterFunc(r.window, r.flush)
	}
	if c, ok := r.counts[k]; ok {
		c.n++
		c.msg, c.attrs = msg, attrs
		r.mu.Unlock()
		return
	}
	if len(r.counts) >= logDistinct {
		if r.over.n == 0 || level > r.overAt {
			r.overAt = level
		}
		r.over.n++
		r.over.msg, r.over.attrs = msg, attrs
		r.mu.Unlock()
		return
	}
	r.counts[k] = &repeats{}
	r.mu.Unlock()
	r.log.LogAttrs(ctx, level, msg, attrs...)
}

// flush closes the window: it logs the count of each message that
// repeated, and the next message of any kind is logged at once again.
func (r *rateLog) flush() {
	r.mu.Lock()
	counts, over, overAt := r.counts, r.over, r.overAt
	r.counts, r.over = nil, repeats{}
	r.mu.Unlock()
	ctx := context.Background()
	for k, c := range counts {
		if c.n > 0 {
			r.log.LogAttrs(ctx, k.level, c.msg, append([]slog.Attr{slog.Int("repeated", c.n), slog.Duration("within", r.window)}, c.attrs...)...)
		}
	}
	if over.n > 0 {
		r.log.LogAttrs(ctx, overAt, "session: more kinds of session log lines than are logged apart in one window were counted together",
			append([]slog.Attr{slog.Int("repeated", over.n), slog.Duration("within", r.window), slog.String("last", over.msg)}, over.attrs...)...)
	}
}
