package session_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/crumbs-go/session"
	"github.com/crumbs-go/session/cookiestore"
)

// Found by an outside review (the test failed before the fix): save measures RecordBytes only when the store's error is nil;
// a save the store made but answered with *errs.Unchecked (a sign-in
// guard or revocation check that could not run, WithFailOpen) is a
// success — the token goes out and metrics.Commit is reported — with
// RecordBytes 0. Before b9beb2f it was the encoded size.
func TestRecordBytesOnUncheckedSave(t *testing.T) {
	store, err := cookiestore.New([][]byte{secret(1)}, cookiestore.WithRevocation(failingBackend{}), cookiestore.WithSignInGuard())
	if err != nil {
		t.Fatal(err)
	}
	ev := &events{}
	m, err := session.New(store, session.WithLogger(discard()), session.WithMetrics(ev))
	if err != nil {
		t.Fatal(err)
	}
	h := m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := session.Get[int](session.From(r), "n")
		session.From(r).Set("n", n+1)
	}))
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", "http://localhost/", nil))
	r := httptest.NewRequest("GET", "http://localhost/", nil)
	r.AddCookie(w.Result().Cookies()[0])
	w = httptest.NewRecorder()
	h.ServeHTTP(w, r) // an update: the sign-in guard's lookup fails, the write goes on unchecked
	if w.Code != http.StatusOK || len(w.Result().Cookies()) == 0 {
		t.Fatalf("second request: %d, %d cookies", w.Code, len(w.Result().Cookies()))
	}
	ev.mu.Lock()
	defer ev.mu.Unlock()
	t.Logf("commits: %+v", ev.cmt)
	if last := ev.cmt[len(ev.cmt)-1]; last.RecordBytes != len(`{"n":2}`) {
		t.Errorf("RecordBytes of the unchecked save = %d, want %d", last.RecordBytes, len(`{"n":2}`))
	}
}

// Found by an outside review (the test failed before the fix): the codec now runs inside the store's Save (Commit.Encode), and
// the Manager records the Save's error as the store's own failure: a
// codec that cannot encode the values (the request's error, 500, not
// ErrBackend) shows in the metrics as a failed store call
// (metrics.Recorder.Backend: "err is for the store's own failures").
// Before b9beb2f the codec failed before the store was called.
func TestEncodeFailureIsNotABackendFailureInMetrics(t *testing.T) {
	ev := &events{}
	m, err := session.New(mustCookieStore(t), session.WithLogger(discard()), session.WithCodec(failingMap{session.JSON}), session.WithMetrics(ev),
		session.WithErrorHandler(func(w http.ResponseWriter, r *http.Request, err error) {
			http.Error(w, "x", http.StatusInternalServerError)
		}))
	if err != nil {
		t.Fatal(err)
	}
	w := httptest.NewRecorder()
	m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { session.From(r).Set("a", 1) })).ServeHTTP(w, httptest.NewRequest("GET", "http://localhost/", nil))
	got := ev.take()
	t.Logf("recorded: %q (HTTP %d)", got, w.Code)
	for _, l := range got {
		if l == "backend:save:false" {
			t.Errorf("a codec failure was recorded as a failed store call")
		}
	}
}
