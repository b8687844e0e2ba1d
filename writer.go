package session

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
)

// errFailed is what the handler's writes return after the error handler
// answered the request instead.
var errFailed = errors.New("session: the response was answered by the session error handler")

// writer commits the session just before the response headers go out.
type writer struct {
	rw          http.ResponseWriter
	s           *Session
	wroteHeader bool     // the final headers are out (or the connection was hijacked)
	hijacked    bool     // the connection was hijacked: there is no response
	failed      bool     // the error handler answered; the handler's output is dropped
	set         []string // the Set-Cookie lines the session added
}

// commit saves the session; on failure the error handler answers.
func (w *writer) commit() bool {
	if err := w.s.m.commit(w.s); err != nil {
		w.s.m.fail(w.s, err)
		return false
	}
	return true
}

func (w *writer) Header() http.Header { return w.rw.Header() }

func (w *writer) WriteHeader(code int) {
	if w.failed {
		return
	}
	if !w.wroteHeader && code >= 100 && code < 200 && code != http.StatusSwitchingProtocols {
		w.rw.WriteHeader(code) // informational: the final headers come later
		return
	}
	if !w.wroteHeader && !w.commit() {
		return
	}
	w.wroteHeader = true
	w.rw.WriteHeader(code)
}

func (w *writer) Write(b []byte) (int, error) {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if w.failed {
		return 0, errFailed
	}
	return w.rw.Write(b)
}

// ReadFrom keeps the underlying writer's sendfile path.
func (w *writer) ReadFrom(src io.Reader) (int64, error) {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if w.failed {
		return 0, errFailed
	}
	if rf, ok := w.rw.(io.ReaderFrom); ok {
		return rf.ReadFrom(src)
	}
	return io.Copy(struct{ io.Writer }{w.rw}, src)
}

// Flush commits the session and flushes.
func (w *writer) Flush() { _ = w.FlushError() }

// FlushError is Flush for http.ResponseController.
func (w *writer) FlushError() error {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if w.failed {
		return errFailed
	}
	return http.NewResponseController(w.rw).Flush()
}

// Hijack hands the connection over; the session is not committed (no
// headers of this response will be written by net/http).
func (w *writer) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, rw, err := http.NewResponseController(w.rw).Hijack()
	if err == nil {
		w.wroteHeader, w.hijacked = true, true
	}
	return conn, rw, err
}

// Unwrap returns the underlying writer, for http.ResponseController.
func (w *writer) Unwrap() http.ResponseWriter { return w.rw }
