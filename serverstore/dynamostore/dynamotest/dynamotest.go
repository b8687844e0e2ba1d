// Package dynamotest runs a local DynamoDB for tests: dynalite 4.0.0 from
// npm, started on 127.0.0.1 at a free port, once per test process. It is
// installed with npm ci from the lock file of this package, once per
// machine, into the user's cache folder (crumbs-dynalite/ and a hash of
// the lock file), so that fuzz workers, each a process, start in a moment.
// It needs node and npm; without them a test skips, except under CI (CI
// set), where it fails.
//
// Call Stop from TestMain after m.Run: it stops what Start started.
// dynalite also exits when the test process does (it ends when its
// standard input closes), so a killed fuzz worker leaves nothing behind.
//
// What dynalite does not emulate: TTL (it has no UpdateTimeToLive, and
// deletes nothing when a TTL passes: the stores' reads enforce expiry
// themselves, which is what the tests check), transactions, and the
// asynchronous update of global secondary indexes (its indexes are
// updated with the table).
package dynamotest

import (
	"bufio"
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
)

//go:embed node/package.json node/package-lock.json node/start.js
var files embed.FS

var (
	mu       sync.Mutex
	dir      string
	cmd      *exec.Cmd
	stdin    io.WriteCloser
	endpoint string
	startErr error
)

// Start returns the endpoint of the process's dynalite
// (http://127.0.0.1:PORT), starting it on the first call.
func Start(t testing.TB) string {
	t.Helper()
	mu.Lock()
	defer mu.Unlock()
	if endpoint == "" && startErr == nil {
		startErr = start()
	}
	if startErr != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("dynalite: %v (CI=true: .ci/run installs node and npm)", startErr)
		}
		t.Skipf("dynalite: %v", startErr)
	}
	return endpoint
}

func start() error {
	for _, tool := range []string{"node", "npm"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("%s is missing: %w", tool, err)
		}
	}
	var err error
	if dir, err = install(); err != nil {
		return err
	}
	c := exec.Command("node", "start.js")
	c.Dir = dir
	c.Stderr = os.Stderr
	out, err := c.StdoutPipe()
	if err != nil {
		return err
	}
	in, err := c.StdinPipe()
	if err != nil {
		return err
	}
	if err := c.Start(); err != nil {
		return fmt.Errorf("node start.js: %w", err)
	}
	port := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if p, ok := strings.CutPrefix(sc.Text(), "port "); ok {
				port <- p
			}
		}
		close(port)
	}()
	select {
	case p, ok := <-port:
		if !ok {
			c.Wait()
			return errors.New("dynalite exited before it listened")
		}
		cmd, stdin, endpoint = c, in, "http://127.0.0.1:"+p
		return nil
	case <-time.After(30 * time.Second):
		c.Process.Kill()
		c.Wait()
		return errors.New("dynalite did not listen within 30 s")
	}
}

// install installs dynalite into the cache folder of this lock file,
// unless it is there, and returns the folder.
func install() (string, error) {
	h := sha256.New()
	for _, f := range []string{"package.json", "package-lock.json", "start.js"} {
		b, err := files.ReadFile("node/" + f)
		if err != nil {
			return "", err
		}
		h.Write(b)
	}
	base, err := os.UserCacheDir()
	if err != nil {
		base = os.TempDir()
	}
	parent := filepath.Join(base, "crumbs-dynalite")
	final := filepath.Join(parent, hex.EncodeToString(h.Sum(nil))[:16])
	if _, err := os.Stat(filepath.Join(final, "node_modules", "dynalite", "package.json")); err == nil {
		return final, nil
	}
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return "", err
	}
	tmp, err := os.MkdirTemp(parent, "installing-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp) // gone once renamed
	for _, f := range []string{"package.json", "package-lock.json", "start.js"} {
		b, _ := files.ReadFile("node/" + f)
		if err := os.WriteFile(filepath.Join(tmp, f), b, 0o644); err != nil {
			return "", err
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "npm", "ci", "--no-audit", "--no-fund", "--loglevel=error")
	cmd.Dir = tmp
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("npm ci: %w\n%s", err, out)
	}
	// Another process may have installed it meanwhile: either copy serves.
	if err := os.Rename(tmp, final); err != nil {
		if _, serr := os.Stat(filepath.Join(final, "node_modules", "dynalite", "package.json")); serr != nil {
			return "", err
		}
	}
	return final, nil
}

// Stop stops the dynalite Start started, if any.
func Stop() {
	mu.Lock()
	defer mu.Unlock()
	if cmd != nil {
		stdin.Close()
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		cmd = nil
	}
	dir = ""
	endpoint = ""
}

// The credentials of every client of dynalite: it checks none, but they
// have the length of real ones, as FIPS 140-only mode requires (the SDK's
// signing key is "AWS4" and the secret, and an HMAC key under 14 bytes
// panics there).
const (
	AccessKeyID     = "AKIAIOSFODNN7EXAMPLE"
	SecretAccessKey = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
)

// SetEnv sets what the SDK's default chain reads, for stores opened from a
// configuration string (dynamodb://…): AccessKeyID and SecretAccessKey,
// and no instance metadata service to ask. Call it from TestMain, before
// m.Run.
func SetEnv() {
	os.Setenv("AWS_ACCESS_KEY_ID", AccessKeyID)
	os.Setenv("AWS_SECRET_ACCESS_KEY", SecretAccessKey)
	os.Setenv("AWS_EC2_METADATA_DISABLED", "true")
}

// Client returns a client of the process's dynalite, with AccessKeyID and
// SecretAccessKey.
func Client(t testing.TB) *dynamodb.Client {
	t.Helper()
	ep := Start(t)
	return dynamodb.New(dynamodb.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(ep),
		Credentials:  credentials.NewStaticCredentialsProvider(AccessKeyID, SecretAccessKey, ""),
	})
}
