package e2e

import (
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/crumbs-go/session"
	"github.com/crumbs-go/session/cookiestore"
	"github.com/crumbs-go/session/serverstore"
)

// TestBrowserSignInRace: a page fires requests that carry the session's
// cookie and are still in flight when a sign-in, then an ID rotation of
// the signed-in user, answer with a new cookie (server mode). Chromium
// must end signed in both times: no response of a request sent with the
// old cookie replaces the new one. Requests that load the session after
// the sign-in with the anonymous cookie see a fresh session (an ID from
// before a sign-in never reaches the signed-in session); those that load
// it after the rotation, within the grace, see the user signed in.
func TestBrowserSignInRace(t *testing.T) {
	store, err := serverstore.New(serverstore.NewMemory(), [][]byte{secretOld})
	if err != nil {
		t.Fatal(err)
	}
	signInRace(t, store)
}

// TestBrowserSignInRaceCookieMode: the same races in cookie mode, with a
// revocation store (its default check interval) and WithSignInGuard: no
// response of a request sent with the anonymous cookie during the
// sign-in, nor with the signed-in cookie during the rotation, puts the
// older cookie back.
func TestBrowserSignInRaceCookieMode(t *testing.T) {
	store, err := cookiestore.New([][]byte{secretOld}, cookiestore.WithRevocation(serverstore.NewMemory()), cookiestore.WithSignInGuard())
	if err != nil {
		t.Fatal(err)
	}
	signInRace(t, store)
}

func signInRace(t *testing.T, store session.Store) {
	m, err := session.New(store, session.WithCookieName("sid"), session.WithIdentityKey("user"),
		session.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	who := func(w http.ResponseWriter, s *session.Session) {
		user, _ := session.Get[string](s, "user")
		json.NewEncoder(w).Encode(map[string]string{"user": user, "id": s.ID()})
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		session.From(r).Set("visits", 1)
		io.WriteString(w, "<!doctype html><title>race</title><p>race</p>")
	})
	mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		session.From(r).Set("user", "ada") // WithIdentityKey: regenerates
		who(w, session.From(r))
	})
	mux.HandleFunc("POST /rotate", func(w http.ResponseWriter, r *http.Request) {
		session.From(r).Regenerate(true)
		who(w, session.From(r))
	})
	// /slow loads the session first, then waits, then writes: it straddles
	// the sign-in. /late waits first: it loads the session after it.
	mux.HandleFunc("GET /slow", func(w http.ResponseWriter, r *http.Request) {
		s := session.From(r)
		s.Get("user")
		time.Sleep(600 * time.Millisecond)
		s.Set("slow", r.URL.Query().Get("i"))
		who(w, s)
	})
	mux.HandleFunc("GET /late", func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(600 * time.Millisecond)
		s := session.From(r)
		s.Set("late", r.URL.Query().Get("i"))
		who(w, s)
	})
	mux.HandleFunc("GET /whoami", func(w http.ResponseWriter, r *http.Request) { who(w, session.From(r)) })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: m.Handler(mux)}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	base := "http://" + ln.Addr().String()

	ctx := browser(t)
	if status := open(t, ctx, base+"/"); status != 200 {
		t.Fatalf("GET /: %d", status)
	}
	// At most 6 connections per host: 2 requests of each kind, then the
	// sign-in (or the rotation) 150 ms later, while all 4 are in flight.
	race := func(action string) (inFlight []string, after string) {
		t.Helper()
		js := `(async () => {
			const get = p => fetch(p).then(r => r.json()).then(j => j.user);
			const flight = [get('/slow?i=1'), get('/slow?i=2'), get('/late?i=1'), get('/late?i=2')];
			await new Promise(r => setTimeout(r, 150));
			const act = await fetch('/` + action + `', {method: 'POST'}).then(r => r.json());
			const seen = await Promise.all(flight);
			const mine = await fetch('/whoami').then(r => r.json());
			return JSON.stringify({seen, act: act.user, actID: act.id, me: mine.user, meID: mine.id});
		})()`
		out, err := chromedp.Run(ctx, chromedp.Evaluate[string](js, chromedp.EvalAwaitPromise))
		if err != nil {
			t.Fatalf("%s race: %v", action, err)
		}
		var res struct {
			Seen        []string
			Act, Me     string
			ActID, MeID string
		}
		if err := json.Unmarshal([]byte(out), &res); err != nil {
			t.Fatalf("%s race: %q: %v", action, out, err)
		}
		if res.Act != "ada" {
			t.Fatalf("%s answered user %q", action, res.Act)
		}
		if action == "rotate" && res.MeID != res.ActID {
			// The browser holds another session than the one the rotation
			// answered with (the old one is signed in too): a response of a
			// request sent with the old cookie replaced the new one. (A
			// sign-in rotates when it commits, after its handler read the
			// ID: there the user tells.)
			return res.Seen, "a session other than the " + action + "'s"
		}
		return res.Seen, res.Me
	}
	cookie := func() string {
		for _, c := range cookies(t, ctx, &demo{addr: ln.Addr().String(), name: "sid"}) {
			return c.Value
		}
		return ""
	}

	anon := cookie()
	seen, me := race("login")
	if me != "ada" {
		t.Fatalf("after the sign-in race the browser is signed in as %q: a request sent with the old cookie replaced the new one", me)
	}
	// /slow loaded before the sign-in (anonymous); /late after it, with
	// the anonymous cookie: a fresh session, never the signed-in one.
	if strings.Join(seen, ",") != ",,," {
		t.Fatalf("requests in flight during the sign-in saw users %q; want none signed in", seen)
	}
	signedIn := cookie()
	if signedIn == anon || signedIn == "" {
		t.Fatal("the sign-in did not change the cookie")
	}

	seen, me = race("rotate")
	if me != "ada" {
		t.Fatalf("after the rotation race the browser is signed in as %q", me)
	}
	// /slow loaded before the rotation; /late after it with the old ID,
	// within the grace: both see the user signed in.
	if strings.Join(seen, ",") != "ada,ada,ada,ada" {
		t.Fatalf("requests in flight during a same-user rotation saw users %q; want ada for all (the grace)", seen)
	}
	if c := cookie(); c == signedIn || c == "" {
		t.Fatal("the rotation did not change the cookie")
	}
}
