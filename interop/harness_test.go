package interop

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/crumbs-go/session/internal/leakcheck"
)

const redisAddr = "127.0.0.1:6379"

// need skips the test without tool, except under CI, where it fails.
func need(t *testing.T, what string, err error) {
	t.Helper()
	if err == nil {
		return
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("%s is missing (CI=true: .ci/run installs and starts it): %v", what, err)
	}
	t.Skipf("%s is missing: %v", what, err)
}

var (
	installOnce sync.Once
	installDir  string
	installErr  error
)

// install copies node/ into a temporary folder and runs npm ci there, once
// per test binary.
func install(t *testing.T) string {
	t.Helper()
	_, err := exec.LookPath("node")
	need(t, "node", err)
	_, err = exec.LookPath("npm")
	need(t, "npm", err)
	installOnce.Do(func() {
		installDir, installErr = os.MkdirTemp("", "crumbs-interop-")
		if installErr != nil {
			return
		}
		for _, f := range []string{"package.json", "package-lock.json", "app.js"} {
			b, err := os.ReadFile(filepath.Join("node", f))
			if err != nil {
				installErr = err
				return
			}
			if installErr = os.WriteFile(filepath.Join(installDir, f), b, 0o644); installErr != nil {
				return
			}
		}
		cmd := exec.Command("npm", "ci", "--no-audit", "--no-fund", "--loglevel=error")
		cmd.Dir = installDir
		if out, err := cmd.CombinedOutput(); err != nil {
			installErr = &npmError{err, string(out)}
		}
	})
	if installErr != nil {
		t.Fatalf("npm ci: %v", installErr)
	}
	return installDir
}

type npmError struct {
	err error
	out string
}

func (e *npmError) Error() string { return e.err.Error() + "\n" + e.out }

func TestMain(m *testing.M) {
	code := m.Run()
	if installDir != "" {
		os.RemoveAll(installDir)
	}
	os.Exit(leakcheck.Verify(code))
}

// expressApp configures one express-session app of the Node process.
type expressApp struct {
	Name              string   `json:"name"`
	Secrets           []string `json:"secrets"`
	Prefix            string   `json:"prefix"`
	MaxAge            int64    `json:"maxAge,omitempty"`
	SaveUninitialized bool     `json:"saveUninitialized,omitempty"`
	Rolling           bool     `json:"rolling,omitempty"`
	Resave            bool     `json:"resave,omitempty"`
	Secure            bool     `json:"secure,omitempty"`
	SameSite          string   `json:"sameSite,omitempty"`
	Priority          string   `json:"priority,omitempty"`
}

type nodeConfig struct {
	Redis         string        `json:"redis"`
	Express       []expressApp  `json:"express,omitempty"`
	CookieSession *cookieConfig `json:"cookieSession,omitempty"`
}

type cookieConfig struct {
	Keys []string `json:"keys"`
}

// startNode runs app.js with cfg and returns the base URL of each app.
func startNode(t *testing.T, cfg nodeConfig) map[string]string {
	t.Helper()
	dir := install(t)
	b, _ := json.Marshal(cfg)
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, "node", "app.js")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CONFIG="+string(b))
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		cmd.Wait()
		if t.Failed() && stderr.Len() > 0 {
			t.Logf("node's stderr:\n%s", stderr.String())
		}
	})
	line := make(chan string, 1)
	go func() {
		s := bufio.NewScanner(out)
		if s.Scan() {
			line <- s.Text()
		}
		close(line)
		io.Copy(io.Discard, out)
	}()
	select {
	case l, ok := <-line:
		if !ok {
			t.Fatalf("node exited before listening: %s", stderr.String())
		}
		var ports map[string]int
		if err := json.Unmarshal([]byte(l), &ports); err != nil {
			t.Fatalf("node said %q: %v", l, err)
		}
		urls := map[string]string{}
		for k, p := range ports {
			urls[k] = "http://127.0.0.1:" + strconv.Itoa(p)
		}
		return urls
	case <-time.After(30 * time.Second):
		t.Fatalf("node did not listen within 30 s: %s", stderr.String())
	}
	return nil
}

// redisClient connects to the local Redis; prefix is a key prefix of the
// test's own, whose keys are deleted at the end.
func redisClient(t *testing.T) (*redis.Client, string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", redisAddr, time.Second)
	need(t, "Redis at "+redisAddr, err)
	c.Close()
	rc := redis.NewClient(&redis.Options{Addr: redisAddr})
	var b [6]byte
	rand.Read(b[:])
	prefix := "crumbs-interop:" + hex.EncodeToString(b[:]) + ":"
	t.Cleanup(func() {
		ctx := context.Background()
		keys, _ := rc.Keys(ctx, prefix+"*").Result()
		tombs, _ := rc.Keys(ctx, "crumbs-moved:{"+prefix+"*").Result()
		if keys = append(keys, tombs...); len(keys) > 0 {
			rc.Del(ctx, keys...)
		}
		rc.Close()
	})
	return rc, prefix
}

// browser is one cookie jar in front of every server: cookies do not
// depend on the port, so the Express and Go servers on 127.0.0.1 share
// them, as two apps behind one host name do.
type browser struct {
	t *testing.T
	c *http.Client
}

func newBrowser(t *testing.T) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, c: &http.Client{Jar: jar, Timeout: 10 * time.Second}}
}

// state is what the apps answer: the session's ID and values.
type state struct {
	ID     string                     `json:"id"`
	Values map[string]json.RawMessage `json:"values"`
	Cookie map[string]any             `json:"cookie"` // Express: req.session.cookie
}

func (s state) value(k string) string { return string(s.Values[k]) }

// call sends method to base+path and decodes the answer; it returns the
// response too, for its Set-Cookie lines.
func (b *browser) call(method, base, path string) (state, *http.Response) {
	b.t.Helper()
	req, _ := http.NewRequest(method, base+path, nil)
	res, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != 200 {
		b.t.Fatalf("%s %s%s: %d %s", method, base, path, res.StatusCode, body)
	}
	var s state
	json.Unmarshal(body, &s)
	return s, res
}

// on returns the browser for the (sub)test t: the same cookies.
func (b *browser) on(t *testing.T) *browser { return &browser{t: t, c: b.c} }

func (b *browser) get(base, path string) state  { s, _ := b.call("GET", base, path); return s }
func (b *browser) post(base, path string) state { s, _ := b.call("POST", base, path); return s }

// cookie returns the value of the cookie name the browser holds.
func (b *browser) cookie(name string) string {
	u, _ := url.Parse("http://127.0.0.1/")
	for _, c := range b.c.Jar.Cookies(u) {
		if c.Name == name {
			return c.Value
		}
	}
	return ""
}

func (b *browser) names() []string {
	u, _ := url.Parse("http://127.0.0.1/")
	var out []string
	for _, c := range b.c.Jar.Cookies(u) {
		out = append(out, c.Name)
	}
	return out
}
