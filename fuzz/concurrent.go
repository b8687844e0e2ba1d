package fuzz

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"sync"
	"testing"

	"github.com/crumbs-go/session"
)

// RunConcurrent runs a burst of parallel requests on one server-mode
// session on real goroutines, spread over two, four or one Manager per
// request (instances of an app; serverless functions, where no two
// requests share a process) on one backend, with the default conflict
// timeout: the
// interleavings are the runtime's, the load is heavier than a scheduled
// group's, and the promises are the same: every request answers 200,
// every key set lands, no Update and no flash is lost, the ID stays.
func RunConcurrent(t testing.TB, b Backend, data []byte) {
	r := &bytes{b: data}
	o := options(r, true, false)
	o.Names = o.Names[:1]
	w := &world{t: t, sc: &Scenario{Options: o}, b: b, clock: &clock{t: start()}, serial: map[int]string{}, real: map[string]int{}}
	w.model = NewModel(o.Config, w.clock.now())
	w.open = b.Open(t, w.clock.now)
	fmt.Fprintf(&w.log, "%s on %s\n", o.String(), b.Name)
	k := 2 + r.intn(31)
	handlers := make([]*session.Manager, pick(r, 2, 4, k))
	for i := range handlers {
		store, err := w.open(secrets(0))
		if err != nil {
			t.Fatal(err)
		}
		handlers[i] = w.manager(store, o.Names[0])
	}
	send := func(i int, cookie string, f func(*session.Session)) *http.Response {
		req := httptest.NewRequest(http.MethodGet, "http://localhost/", nil)
		if cookie != "" {
			req.Header.Set("Cookie", o.Names[0]+"="+cookie)
		}
		rec := httptest.NewRecorder()
		handlers[i].Handler(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
			f(session.From(r))
		})).ServeHTTP(rec, req)
		return rec.Result()
	}
	res := send(0, "", func(s *session.Session) { s.Set("a", "start"); s.AddFlash("f-start") })
	token := tokenIn(res, o.Names[0])
	if token == "" {
		t.Fatalf("%sthe first request set no cookie", w.log.String())
	}
	kinds := make([]PKind, k)
	for i := range kinds {
		kinds[i] = burstKinds[r.byte()%8]
	}
	fmt.Fprintf(&w.log, "  %d parallel requests over %d instances: %v\n", k, len(handlers), kinds)
	var (
		wg       sync.Mutex
		statuses = map[int]int{}
		reported []error
		group    sync.WaitGroup
		begin    = make(chan struct{})
	)
	w.reported = nil
	for i, kind := range kinds {
		group.Add(1)
		go func() {
			defer group.Done()
			<-begin
			res := send(i%len(handlers), token, func(s *session.Session) {
				switch kind {
				case PSet:
					s.Set("p"+strconv.Itoa(i), i)
				case PUpdate:
					if _, err := session.Update(s, "n", func(n int) int { return n + 1 }); err != nil {
						wg.Lock()
						reported = append(reported, err)
						wg.Unlock()
					}
				case PFlash:
					s.AddFlash("f" + strconv.Itoa(i))
				case PRead:
					s.Get("a")
				case PTouch:
					s.Touch()
				}
			})
			wg.Lock()
			statuses[res.StatusCode]++
			wg.Unlock()
		}()
	}
	close(begin)
	group.Wait()
	w.mu.Lock()
	reported = append(reported, w.reported...)
	w.mu.Unlock()
	if statuses[http.StatusOK] != k || len(reported) > 0 {
		t.Fatalf("%sresponses by status %v; errors %v", w.log.String(), statuses, reported)
	}
	want := map[string]string{"a": `"start"`}
	flashes := []string{"f-start"}
	n := 0
	for i, kind := range kinds {
		switch kind {
		case PSet:
			want["p"+strconv.Itoa(i)] = strconv.Itoa(i)
		case PUpdate:
			n++
		case PFlash:
			flashes = append(flashes, "f"+strconv.Itoa(i))
		}
	}
	if n > 0 {
		want["n"] = strconv.Itoa(n)
	}
	want[FlashKey] = ""
	var got map[string]string
	var isNew bool
	send(0, token, func(s *session.Session) {
		isNew, got = s.IsNew(), map[string]string{}
		for _, key := range s.Keys() {
			got[key], _ = raw(s, key)
		}
	})
	var gotFlashes []string
	json.Unmarshal([]byte(got[FlashKey]), &gotFlashes)
	slices.Sort(gotFlashes)
	slices.Sort(flashes)
	got[FlashKey] = ""
	if isNew || !maps.Equal(got, want) || !slices.Equal(gotFlashes, flashes) {
		t.Fatalf("%safter the burst: IsNew %t, values %v, flashes %q; the promises say %v, flashes %q", w.log.String(), isNew, got, gotFlashes, want, flashes)
	}
}

// burstKinds weighs a burst's requests: half of them Update one counter,
// the contended case.
var burstKinds = [8]PKind{PSet, PUpdate, PUpdate, PUpdate, PUpdate, PFlash, PRead, PTouch}

// tokenIn is the session cookie a response set.
func tokenIn(res *http.Response, name string) string {
	for _, line := range res.Header.Values("Set-Cookie") {
		if k, err := http.ParseSetCookie(line); err == nil && k.Name == name && k.MaxAge >= 0 {
			return k.Value
		}
	}
	return ""
}

// RunDifferential runs one scenario on two backends: each is held to the
// model, and their histories (every response's status and what it did to
// the token, with Max-Age) must be the same. Scenarios with hostile
// clients or parallel groups are kept to two server backends: cookie mode
// cannot revoke a copied cookie nor merge parallel writes (doc.go).
func RunDifferential(t testing.TB, a, b Backend, data []byte, header bool) {
	both := a.Server == b.Server
	sa := Decode(data, a.Server, header, both, both)
	sb := Decode(data, b.Server, header, both, both)
	ha := RunScenario(t, a, sa)
	if t.Failed() {
		return
	}
	hb := RunScenario(t, b, sb)
	if t.Failed() {
		return
	}
	if len(ha.Responses) != len(hb.Responses) {
		t.Fatalf("%s: %d responses on %s, %d on %s", sa, len(ha.Responses), a.Name, len(hb.Responses), b.Name)
	}
	for i := range ha.Responses {
		x, y := ha.Responses[i], hb.Responses[i]
		if x.Status != y.Status || !slices.Equal(x.Out, y.Out) {
			t.Fatalf("%s: response %d: %s %+v, %s %+v", sa, i, a.Name, x, b.Name, y)
		}
	}
}
