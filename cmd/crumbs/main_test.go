package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/crumbs-go/session"
	"github.com/crumbs-go/session/cookiestore"
	"github.com/crumbs-go/session/crypto"
	"github.com/crumbs-go/session/internal/leakcheck"
	"github.com/crumbs-go/session/serverstore"
)

// bin is the crumbs binary the tests run, built once by TestMain.
var bin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "crumbs-cli")
	if err != nil {
		panic(err)
	}
	bin = filepath.Join(dir, "crumbs")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "go build: %v\n%s", err, out)
		os.Exit(2)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(leakcheck.Verify(code))
}

// result is one run of the binary.
type result struct {
	code           int
	stdout, stderr string
}

// crumbs runs the binary with args, stdin and the environment variables in
// env ("NAME=value"), and nothing else of the test's environment.
func crumbs(t *testing.T, stdin string, env []string, args ...string) result {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}, env...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	r := result{stdout: out.String(), stderr: errb.String()}
	switch {
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	case err != nil:
		t.Fatal(err)
	}
	return r
}

func b64(s []byte) string { return base64.StdEncoding.EncodeToString(s) }

func newSecret() []byte {
	b := make([]byte, 32)
	rand.Read(b)
	return b
}

// visit serves one request with f under m, carrying cookie (a Cookie
// header) or, for header tokens, the token; it returns the Cookie header of
// the session's cookies afterwards, or the new header token.
func visit(t *testing.T, m *session.Manager, carry string, header bool, f func(*session.Session)) string {
	t.Helper()
	r := httptest.NewRequest("GET", "https://example.com/", nil)
	if carry != "" && header {
		r.Header.Set("Authorization", "Bearer "+carry)
	} else if carry != "" {
		r.Header.Set("Cookie", carry)
	}
	w := httptest.NewRecorder()
	m.Handler(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { f(session.From(r)) })).ServeHTTP(w, r)
	if w.Code != 200 {
		t.Fatalf("status %d", w.Code)
	}
	if header {
		return w.Header().Get("Session-Token")
	}
	var pairs []string
	for _, c := range w.Result().Cookies() {
		if c.MaxAge >= 0 {
			pairs = append(pairs, c.Name+"="+c.Value)
		}
	}
	return strings.Join(pairs, "; ")
}

// must returns v, panicking on err: for setup that cannot fail.
func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func cookieManager(t *testing.T, secrets [][]byte, opts ...cookiestore.Option) *session.Manager {
	t.Helper()
	return must(session.New(must(cookiestore.New(secrets, opts...))))
}

// inspectJSON runs inspect --json and decodes its output.
func inspectJSON(t *testing.T, token string, env []string, args ...string) (inspection, int) {
	t.Helper()
	r := crumbs(t, token, env, append([]string{"inspect", "--json"}, args...)...)
	var out inspection
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		t.Fatalf("inspect --json %v: exit %d, %v\nstdout: %s\nstderr: %s", args, r.code, err, r.stdout, r.stderr)
	}
	return out, r.code
}

func TestSecret(t *testing.T) {
	a, b := crumbs(t, "", nil, "secret"), crumbs(t, "", nil, "secret")
	if a.code != 0 || a.stdout == b.stdout {
		t.Fatalf("secret: exit %d, two runs %q and %q", a.code, a.stdout, b.stdout)
	}
	secrets, err := session.ParseSecrets(strings.TrimSpace(a.stdout) + "," + strings.TrimSpace(b.stdout))
	if err != nil || len(secrets) != 2 || len(secrets[0]) != 32 {
		t.Fatalf("ParseSecrets(two new secrets) = %d, %v", len(secrets), err)
	}
	var j struct{ Secret string }
	if r := crumbs(t, "", nil, "secret", "--json"); r.code != 0 || json.Unmarshal([]byte(r.stdout), &j) != nil || j.Secret == "" {
		t.Fatalf("secret --json: %d %q", r.code, r.stdout)
	}
}

// TestInspectCookieMode: real cookies from a Manager, in both envelope
// versions, chunked; an older secret; a removed one; a forged chunk set; a
// cookie of another name; a header token; deadlines passed.
func TestInspectCookieMode(t *testing.T) {
	oldSecret, primary, removed := newSecret(), newSecret(), newSecret()
	env := []string{"CRUMBS_SECRETS=" + b64(primary) + "," + b64(oldSecret)}
	big := make([]byte, 3300)
	rand.Read(big)
	cart := base64.RawURLEncoding.EncodeToString(big)
	set := func(s *session.Session) { s.Set("user", "ada"); s.Set("cart", cart) }

	for _, c := range []crypto.Cipher{crypto.XChaCha20Poly1305, crypto.AES256GCM} {
		cookie := visit(t, cookieManager(t, [][]byte{primary}, cookiestore.WithCipher(c)), "", false, set)
		out, code := inspectJSON(t, cookie, env)
		if code != 0 || !out.Opens || out.Version != int(c) || out.Cipher != c.String() || out.Secret == nil || *out.Secret != 1 ||
			len(out.Chunks) != 2 || out.Values["user"] != `"ada"` || out.Values["cart"] != `"`+cart+`"` || out.Absolute == nil || out.Issued == nil || out.ID == "" {
			t.Fatalf("%v: exit %d, %+v", c, code, out)
		}
		for _, ch := range out.Chunks {
			if ch.Bytes > 4096 || ch.Bytes < 1000 {
				t.Fatalf("%v: chunk %+v", c, ch)
			}
		}
		// The same as a "Cookie:" line with another cookie, in text.
		r := crumbs(t, "Cookie: theme=dark; "+cookie+"\n", env, "inspect", "--redact")
		if r.code != 0 || !strings.Contains(r.stdout, "opens: yes") || !strings.Contains(r.stdout, "secret: 1 of the list (the primary)") ||
			!strings.Contains(r.stdout, "user = (5 bytes)") || strings.Contains(r.stdout, cart) || !strings.Contains(r.stdout, "version "+fmt.Sprint(int(c))) {
			t.Fatalf("%v: text: exit %d\n%s%s", c, r.code, r.stdout, r.stderr)
		}
	}

	// An older secret of the list: opens, and says so.
	older := visit(t, cookieManager(t, [][]byte{oldSecret}), "", false, func(s *session.Session) { s.Set("n", 1) })
	if out, code := inspectJSON(t, older, env); code != 0 || out.Secret == nil || *out.Secret != 2 || !out.Rotated {
		t.Fatalf("older secret: exit %d, %+v", code, out)
	}
	// A removed secret: the key ID, and what it means.
	gone := visit(t, cookieManager(t, [][]byte{removed}), "", false, func(s *session.Session) { s.Set("n", 1) })
	if out, code := inspectJSON(t, gone, env); code != 1 || out.Opens || out.Secret != nil || out.KeyID == "" || !strings.Contains(out.Reason, "no secret of the list has") {
		t.Fatalf("removed secret: exit %d, %+v", code, out)
	}
	// A forged chunk set: the second part of one session after the first of another.
	a := visit(t, cookieManager(t, [][]byte{primary}), "", false, set)
	b := visit(t, cookieManager(t, [][]byte{primary}), "", false, set)
	forged := strings.Split(a, "; ")[0] + "; " + strings.Split(b, "; ")[1]
	if out, code := inspectJSON(t, forged, env); code != 1 || out.Opens || !strings.Contains(out.Reason, "authentication failed") {
		t.Fatalf("forged chunks: exit %d, %+v", code, out)
	}
	// Another cookie name: under its own name it opens; under "session" it
	// is not there, and renamed it does not authenticate.
	other := visit(t, must(session.New(must(cookiestore.New([][]byte{primary})), session.WithCookieName("app"))), "", false, func(s *session.Session) { s.Set("n", 1) })
	if out, code := inspectJSON(t, other, env); code != 1 || !strings.Contains(out.Reason, `no cookie named "session"`) && !strings.Contains(out.Reason, "no session cookie") {
		t.Fatalf("another name: exit %d, %+v", code, out)
	}
	if out, code := inspectJSON(t, other, env, "--name", "app"); code != 0 || !out.Opens {
		t.Fatalf("--name app: exit %d, %+v", code, out)
	}
	renamed := strings.Replace(other, "app=", "session=", 1)
	if out, code := inspectJSON(t, renamed, env); code != 1 || !strings.Contains(out.Reason, "another cookie name") {
		t.Fatalf("renamed cookie: exit %d, %+v", code, out)
	}
	// A header token: with "Authorization: Bearer", or a value with --header.
	hm := must(session.New(must(cookiestore.New([][]byte{primary})), session.WithHeaderToken("", "")))
	tok := visit(t, hm, "", true, func(s *session.Session) { s.Set("user", "bob") })
	if out, code := inspectJSON(t, "Authorization: Bearer "+tok, env); code != 0 || out.Transport != "header" || out.Values["user"] != `"bob"` {
		t.Fatalf("header token: exit %d, %+v", code, out)
	}
	if out, code := inspectJSON(t, tok, env, "--header"); code != 0 || !out.Opens {
		t.Fatalf("header token --header: exit %d, %+v", code, out)
	}
	// A cookie value given as a header token does not open, and says why.
	value := strings.TrimPrefix(strings.Split(older, "; ")[0], "session=")
	if out, code := inspectJSON(t, value, env, "--header"); code != 1 || !strings.Contains(out.Reason, "drop --header") {
		t.Fatalf("cookie value as header token: exit %d, %+v", code, out)
	}
	// Past the idle deadline: the times are still shown.
	later := time.Now().Add(48 * time.Hour).UTC().Format(time.RFC3339)
	if out, code := inspectJSON(t, older, env, "--now", later); code != 1 || out.Absolute == nil || !strings.Contains(out.Reason, "expired") {
		t.Fatalf("--now %s: exit %d, %+v", later, code, out)
	}
}

// TestInspectServerMode: a signed ID in the cookie; the values come from a
// real Redis store, reached by its configuration string.
func TestInspectServerMode(t *testing.T) {
	primary := newSecret()
	env := []string{"CRUMBS_SECRETS=" + b64(primary)}
	config := redisConfig(t)
	st := must(session.OpenStore(context.Background(), config, [][]byte{primary}))
	t.Cleanup(func() { st.(interface{ Close() error }).Close() })
	m := must(session.New(st, session.WithLifetime(time.Minute)))
	cookie := visit(t, m, "", false, func(s *session.Session) { s.Set("user", "ada") })
	out, code := inspectJSON(t, cookie, env, "--store", config)
	if code != 0 || out.Kind != "signed" || !out.Opens || out.Values["user"] != `"ada"` || out.Secret == nil || out.ID == "" || out.Absolute == nil {
		t.Fatalf("server mode: exit %d, %+v", code, out)
	}
	visit(t, m, cookie, false, func(s *session.Session) { s.Destroy() })
	if out, code := inspectJSON(t, cookie, env, "--store", config); code != 1 || !strings.Contains(out.Reason, "holds no such session") {
		t.Fatalf("after Destroy: exit %d, %+v", code, out)
	}
}

// redisConfig is a configuration string for the local Redis under a key
// prefix of this test's own.
func redisConfig(t *testing.T) string {
	t.Helper()
	b := make([]byte, 6)
	rand.Read(b)
	return "redis://127.0.0.1:6379/0?crumbs_prefix=crumbs-cli-" + base64.RawURLEncoding.EncodeToString(b) + ":"
}

func TestRotate(t *testing.T) {
	a, b, c := newSecret(), newSecret(), newSecret()
	byA := visit(t, cookieManager(t, [][]byte{a}), "", false, func(s *session.Session) { s.Set("n", 1) })
	byB := visit(t, cookieManager(t, [][]byte{b}), "", false, func(s *session.Session) { s.Set("n", 2) })
	byC := visit(t, cookieManager(t, [][]byte{c}), "", false, func(s *session.Session) { s.Set("n", 3) })
	tokens := "# sampled cookies\n" + byA + "\n" + byB + "\n\n" + byC + "\n"
	env := []string{"CRUMBS_SECRETS=" + b64(b) + "," + b64(a), "NEXT=" + b64(c) + "," + b64(b)}
	r := crumbs(t, tokens, env, "rotate", "--proposed-env", "NEXT", "--json")
	var out rotation
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil || r.code != 1 {
		t.Fatalf("rotate: exit %d, %v\n%s%s", r.code, err, r.stdout, r.stderr)
	}
	if out.Tokens != 3 || out.SignOut != 1 || out.Reseal != 1 || out.Invalid != 1 || out.Keep != 0 ||
		out.Lines[0].Verdict != "sign_out" || out.Lines[1].Verdict != "reseal" || out.Lines[2].Verdict != "invalid" {
		t.Fatalf("rotate: %+v", out)
	}
	// Keeping a in the proposed list signs nobody out: exit 0.
	file := filepath.Join(t.TempDir(), "next")
	os.WriteFile(file, []byte(b64(c)+","+b64(b)+","+b64(a)+"\n"), 0o600)
	if r := crumbs(t, byA+"\n"+byB+"\n", env, "rotate", "--proposed-file", file); r.code != 0 || !strings.Contains(r.stdout, "2 tokens: 0 keep, 2 re-sealed") {
		t.Fatalf("rotate keeping a: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	// Header tokens: bare values with --header; without it, none opens
	// today, and the command says the sample answers nothing (exit 2).
	hm := must(session.New(must(cookiestore.New([][]byte{a})), session.WithHeaderToken("", "")))
	tok := visit(t, hm, "", true, func(s *session.Session) { s.Set("n", 1) })
	if r := crumbs(t, tok+"\n", env, "rotate", "--header", "--proposed-env", "NEXT"); r.code != 1 || !strings.Contains(r.stdout, "1 signed out") {
		t.Fatalf("rotate --header: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r := crumbs(t, tok+"\n", env, "rotate", "--proposed-env", "NEXT"); r.code != 2 || !strings.Contains(r.stderr, "--header") {
		t.Fatalf("rotate of header tokens without --header: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	// Server mode: signed IDs.
	st := must(serverstore.New(serverstore.NewMemory(), [][]byte{a}))
	signed := visit(t, must(session.New(st)), "", false, func(s *session.Session) { s.Set("n", 1) })
	if r := crumbs(t, signed+"\n", env, "rotate", "--server", "--proposed-env", "NEXT"); r.code != 1 || !strings.Contains(r.stdout, "1 signed out") {
		t.Fatalf("rotate --server: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

func TestSessions(t *testing.T) {
	primary := newSecret()
	env := []string{"APP_SECRETS=" + b64(primary)}
	config := redisConfig(t)
	st := must(session.OpenStore(context.Background(), config, [][]byte{primary}))
	t.Cleanup(func() { st.(interface{ Close() error }).Close() })
	m := must(session.New(st, session.WithIdentityKey("user"), session.WithLifetime(time.Minute)))
	for range 3 {
		visit(t, m, "", false, func(s *session.Session) { s.Set("user", "ada") })
	}
	list := func() []map[string]any {
		t.Helper()
		r := crumbs(t, "", env, "sessions", "list", "--store", config, "--user", "ada", "--secrets-env", "APP_SECRETS", "--json")
		var out []map[string]any
		if r.code != 0 || json.Unmarshal([]byte(r.stdout), &out) != nil {
			t.Fatalf("sessions list: exit %d\n%s%s", r.code, r.stdout, r.stderr)
		}
		return out
	}
	devs := list()
	if len(devs) != 3 {
		t.Fatalf("sessions list: %d sessions, want 3", len(devs))
	}
	handle := devs[0]["handle"].(string)
	if r := crumbs(t, "", env, "sessions", "end", "--store", config, "--user", "ada", "--secrets-env", "APP_SECRETS", "--handle", handle); r.code != 0 || !strings.Contains(r.stdout, "ended session") {
		t.Fatalf("sessions end --handle: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r := crumbs(t, "", env, "sessions", "end", "--store", config, "--user", "ada", "--secrets-env", "APP_SECRETS", "--handle", handle); r.code != 1 {
		t.Fatalf("ending it again: exit %d, want 1\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r := crumbs(t, "", env, "sessions", "end", "--store", config, "--user", "ada", "--secrets-env", "APP_SECRETS", "--all", "--json"); r.code != 0 || !strings.Contains(r.stdout, `"ended": 2`) {
		t.Fatalf("sessions end --all: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if devs := list(); len(devs) != 0 {
		t.Fatalf("after end --all: %d sessions", len(devs))
	}
	// A cookie store keeps no index: said, exit 2.
	if r := crumbs(t, "", env, "sessions", "list", "--store", "cookie", "--user", "ada", "--secrets-env", "APP_SECRETS"); r.code != 2 || !strings.Contains(r.stderr, "server store") {
		t.Fatalf("sessions over a cookie store: exit %d\n%s", r.code, r.stderr)
	}
}

// TestUsage: --help of every command exits 0 with examples; a bad flag or
// missing secrets exit 2 and say what to fix; no secret is ever printed.
func TestUsage(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"secret", "--help"}, {"inspect", "--help"}, {"rotate", "--help"}, {"sessions", "--help"}, {"sessions", "list", "--help"}} {
		r := crumbs(t, "", nil, args...)
		if r.code != 0 || !strings.Contains(r.stdout+r.stderr, "crumbs") || args[0] != "--help" && !strings.Contains(r.stdout+r.stderr, "xample") {
			t.Errorf("%v: exit %d\n%s%s", args, r.code, r.stdout, r.stderr)
		}
	}
	for _, tt := range []struct {
		args []string
		env  []string
		want string
	}{
		{nil, nil, "Usage"},
		{[]string{"frobnicate"}, nil, "unknown command"},
		{[]string{"inspect", "--bogus"}, nil, "bogus"},
		{[]string{"inspect", "session=x"}, nil, "$CRUMBS_SECRETS is empty"},
		{[]string{"inspect", "session=x"}, []string{"CRUMBS_SECRETS=c2hvcnQ="}, "5 bytes"},
		{[]string{"rotate"}, []string{"CRUMBS_SECRETS=" + b64(newSecret())}, "--proposed-env"},
		{[]string{"sessions", "end", "--store", "cookie", "--user", "a"}, nil, "--handle"},
		{[]string{"sessions", "list", "--store", "memory", "--user", "a"}, nil, "cannot reach"},
		{[]string{"inspect", "--store", "memory", "session=x"}, []string{"CRUMBS_SECRETS=" + b64(newSecret())}, "cannot reach"},
		{[]string{"inspect", "session=x", "extra"}, []string{"CRUMBS_SECRETS=" + b64(newSecret())}, "flags before the token"},
	} {
		r := crumbs(t, "", tt.env, tt.args...)
		if r.code != 2 || !strings.Contains(r.stderr, tt.want) {
			t.Errorf("%v: exit %d, stderr %q; want 2 and %q", tt.args, r.code, r.stderr, tt.want)
		}
	}
	secret := b64(newSecret())
	for _, args := range [][]string{{"inspect"}, {"inspect", "--secrets-env", secret}, {"rotate", "--proposed-env", secret},
		{"inspect", "--secrets-file", secret}, {"rotate", "--proposed-file", secret}} {
		r := crumbs(t, "garbage", []string{"CRUMBS_SECRETS=" + secret}, args...)
		if strings.Contains(r.stdout+r.stderr, secret[:20]) {
			t.Fatalf("%v: a secret was printed:\n%s%s", args[:2], r.stdout, r.stderr)
		}
	}
	// A value's key that would forge a line is quoted.
	primary := newSecret()
	cookie := visit(t, cookieManager(t, [][]byte{primary}), "", false, func(s *session.Session) { s.Set("x\nopens: yes", 1) })
	if r := crumbs(t, cookie, []string{"CRUMBS_SECRETS=" + b64(primary)}, "inspect"); r.code != 0 || !strings.Contains(r.stdout, `"x\nopens: yes" = 1`) {
		t.Fatalf("a key with a line break: exit %d\n%s", r.code, r.stdout)
	}
}
