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
// level and the text with every word that holds a digit left out (a
// failing connection's local port, an address, a size, a request ID
// differ from one repeat to the next); the attributes (the path, a reason)
// may differ too. Past logDistinct kinds
// in a window, the rest are counted together, and the closing line quotes
// the last of them. The error handler and the metrics still see every
// request.
type rateLog struct {
	log    *slog.Logger
	window time.Duration
	after  func(time.Duration, func()) // time.AfterFunc; the tests close windows themselves

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

// kind is msg without what differs between repeats of one failure: each
// word (a run of letters, digits, '_' and '-') that holds a digit reads
// "#": a port, an address's parts, a size, a request ID, a UUID.
func kind(msg string) string {
	if !strings.ContainsAny(msg, "0123456789") {
		return msg
	}
	var b strings.Builder
	b.Grow(len(msg))
	for i := 0; i < len(msg); {
		j := i
		for j < len(msg) && wordByte(msg[j]) {
			j++
		}
		if j == i { // not a word: copied as it is
			b.WriteByte(msg[i])
			i++
			continue
		}
		if w := msg[i:j]; strings.ContainsAny(w, "0123456789") {
			b.WriteByte('#')
		} else {
			b.WriteString(w)
		}
		i = j
	}
	return b.String()
}

func wordByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-'
}

func newRateLog(l *slog.Logger, window time.Duration) *rateLog {
	return &rateLog{log: l, window: window, after: func(d time.Duration, f func()) { time.AfterFunc(d, f) }}
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
		r.after(r.window, r.flush)
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
