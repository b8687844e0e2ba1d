package e2e

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/crumbs-go/session"
	"github.com/crumbs-go/session/cookiestore"
)

// nginxBin finds nginx: CRUMBS_NGINX, or Debian's. Without it the proxy
// tests skip, except under CI, where .ci/run installs it.
func nginxBin(t *testing.T) string {
	t.Helper()
	for _, p := range []string{os.Getenv("CRUMBS_NGINX"), "/usr/sbin/nginx", "nginx"} {
		if p != "" {
			if path, err := exec.LookPath(p); err == nil {
				return path
			}
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("no nginx (CI is set: .ci/run installs the nginx-light package)")
	}
	t.Skip("no nginx: apt-get install nginx-light")
	return ""
}

// selfSigned writes a certificate for 127.0.0.1 and its key into dir and
// returns a pool that trusts it.
func selfSigned(t *testing.T, dir string) *x509.CertPool {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "cert.pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(filepath.Join(dir, "key.pem"), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600)
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return pool
}

// freePort returns a port nothing listens on at the moment.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// nginxTLS starts nginx terminating TLS on 127.0.0.1 with location's
// directives (a proxy_pass to the application, and whatever else), and
// returns its https address and a pool that trusts its certificate. It is
// stopped when the test ends.
func nginxTLS(t *testing.T, location string) (string, *x509.CertPool) {
	t.Helper()
	bin := nginxBin(t)
	dir := t.TempDir()
	pool := selfSigned(t, dir)
	port := freePort(t)
	user := ""
	if os.Geteuid() == 0 {
		user = "user root;" // the workers reach the test's unix socket
	}
	conf := fmt.Sprintf(`%s
daemon off;
master_process off;
pid %[2]s/nginx.pid;
error_log %[2]s/error.log;
events {}
http {
	access_log off;
	client_body_temp_path %[2]s/body;
	proxy_temp_path %[2]s/proxy;
	fastcgi_temp_path %[2]s/fastcgi;
	uwsgi_temp_path %[2]s/uwsgi;
	scgi_temp_path %[2]s/scgi;
	server {
		listen 127.0.0.1:%[3]d ssl;
		ssl_certificate %[2]s/cert.pem;
		ssl_certificate_key %[2]s/key.pem;
		location / {
			%[4]s
		}
	}
}
`, user, dir, port, location)
	if err := os.WriteFile(filepath.Join(dir, "nginx.conf"), []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-p", dir, "-e", filepath.Join(dir, "error.log"), "-c", filepath.Join(dir, "nginx.conf"))
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	for i := 0; ; i++ {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			break
		}
		if i == 100 {
			log, _ := os.ReadFile(filepath.Join(dir, "error.log"))
			t.Fatalf("nginx did not start: %s\n%s", out.String(), log)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return addr, pool
}

// syncBuf collects a Manager's log.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *syncBuf) Write(p []byte) (int, error) { l.mu.Lock(); defer l.mu.Unlock(); return l.b.Write(p) }
func (l *syncBuf) String() string              { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

// secureApp serves GET /login, which sets a session value, on ln with the
// defaults users get, logging into log.
func secureApp(t *testing.T, ln net.Listener, log *syncBuf) {
	t.Helper()
	store, err := cookiestore.New([][]byte{secretNew})
	if err != nil {
		t.Fatal(err)
	}
	m, err := session.New(store, session.WithLogger(slog.New(slog.NewTextHandler(log, nil))))
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		session.From(r).Set("user", "ada")
		fmt.Fprintln(w, "signed in")
	}))}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
}

// TestSecureBehindNginx: a TLS-terminating nginx that sends no
// X-Forwarded-* header passes Host: 127.0.0.1:PORT (or localhost, for a
// unix socket). With the default SecureAuto, a sign-in over https must
// still get a Secure cookie; only a browser's own plain-HTTP request from
// the loopback (development) gets one without Secure, which is logged once
// at WARN.
func TestSecureBehindNginx(t *testing.T) {
	tests := []struct {
		name     string
		unix     bool
		location string // %s is the application's address
	}{
		{"proxy_pass only", false, "proxy_pass http://%s;"},
		{"HTTP/1.1 to the upstream", false, "proxy_pass http://%s; proxy_http_version 1.1;"},
		{"by name", false, "proxy_pass http://%s; proxy_http_version 1.1; proxy_set_header Host localhost;"},
		{"the WebSocket snippet", false, "proxy_pass http://%s; proxy_http_version 1.1; proxy_set_header Upgrade $http_upgrade; proxy_set_header Connection \"upgrade\";"},
		{"unix socket", true, "proxy_pass http://unix:%s:;"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var ln net.Listener
			var err error
			if tt.unix {
				ln, err = net.Listen("unix", filepath.Join(t.TempDir(), "app.sock"))
			} else {
				ln, err = net.Listen("tcp", "127.0.0.1:0")
			}
			if err != nil {
				t.Fatal(err)
			}
			var log syncBuf
			secureApp(t, ln, &log)
			addr, pool := nginxTLS(t, fmt.Sprintf(tt.location, ln.Addr().String()))
			client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
			res, err := client.Get("https://" + addr + "/login")
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			line := res.Header.Get("Set-Cookie")
			if res.StatusCode != 200 || !strings.HasPrefix(line, "session=") {
				t.Fatalf("status %d, Set-Cookie %q", res.StatusCode, line)
			}
			if !strings.Contains(line, "; Secure") {
				t.Errorf("a sign-in over https through nginx set %q: no Secure", line)
			}
			if strings.Contains(log.String(), "without Secure") {
				t.Errorf("the log says a cookie went out without Secure:\n%s", log.String())
			}
		})
	}
}

// TestSecureOnLocalhost: the development side of the same default: plain
// HTTP from the loopback to the application itself gets a cookie without
// Secure (which every client keeps on http://), and the log says so once.
func TestSecureOnLocalhost(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var log syncBuf
	secureApp(t, ln, &log)
	for range 3 {
		res, err := http.Get("http://" + ln.Addr().String() + "/login")
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if line := res.Header.Get("Set-Cookie"); !strings.HasPrefix(line, "session=") || strings.Contains(line, "Secure") {
			t.Fatalf("plain HTTP on the loopback: Set-Cookie %q", line)
		}
	}
	if n := strings.Count(log.String(), "without Secure"); n != 1 || !strings.Contains(log.String(), "level=WARN") {
		t.Errorf("want one WARN line saying the cookie went out without Secure, got %d:\n%s", n, log.String())
	}
}

// TestBrowserSecureBehindNginx: the same through a real browser: Chromium
// opens the page over https from nginx, and holds a Secure cookie.
func TestBrowserSecureBehindNginx(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var log syncBuf
	secureApp(t, ln, &log)
	addr, _ := nginxTLS(t, "proxy_pass http://"+ln.Addr().String()+";")
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium(t)),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.IgnoreCertErrors,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.UserDataDir(t.TempDir()),
	)
	actx, cancelA := chromedp.NewExecAllocator(t.Context(), opts...)
	defer cancelA()
	ctx, cancelC := chromedp.NewContext(actx)
	defer cancelC()
	u := "https://" + addr + "/login"
	if _, err := chromedp.RunResponse(ctx, chromedp.Navigate(u)); err != nil {
		t.Fatal(err)
	}
	res, err := chromedp.RunResponse(ctx, chromedp.Navigate(u))
	if err != nil || res.Status != 200 {
		t.Fatalf("%v %v", res, err)
	}
	cs, err := chromedp.Call(ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{u}})
	if err != nil {
		t.Fatal(err)
	}
	got := cs.Cookies
	if len(got) != 1 || got[0].Name != "session" || !got[0].Secure {
		for _, c := range got {
			t.Logf("%s Secure=%t", c.Name, c.Secure)
		}
		t.Fatalf("the browser holds %d cookies; want one Secure session cookie", len(got))
	}
}
