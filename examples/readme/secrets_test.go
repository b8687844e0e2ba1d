package readme_test

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestProgramsRefuseToStartWithoutTheirKeys: a README program is copied as
// it is, so one that reads the keys of another library's sessions must not
// fall back to a public key when its variable is unset: started with only
// SESSION_SECRETS, it would accept cookies anyone can forge. Each must exit
// at once, naming the variable to set.
func TestProgramsRefuseToStartWithoutTheirKeys(t *testing.T) {
	secret := make([]byte, 32)
	rand.Read(secret)
	for _, tt := range []struct{ program, variable, blank string }{
		{"gorilla", "GORILLA_HASH_KEY", " "},
		{"cookiesession", "COOKIE_SESSION_KEYS", ","},
		{"express", "EXPRESS_SECRETS", ","},
	} {
		t.Run(tt.program, func(t *testing.T) {
			t.Parallel()
			bin := filepath.Join(t.TempDir(), tt.program)
			if out, err := exec.Command("go", "build", "-o", bin, "./"+tt.program).CombinedOutput(); err != nil {
				t.Fatalf("go build: %v\n%s", err, out)
			}
			for _, set := range []string{"", tt.blank} { // unset, and set to nothing but separators
				cmd := exec.Command(bin)
				cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "ADDR=127.0.0.1:0",
					"SESSION_SECRETS=" + base64.StdEncoding.EncodeToString(secret)}
				if set != "" {
					cmd.Env = append(cmd.Env, tt.variable+"="+set)
				}
				var out bytes.Buffer
				cmd.Stdout, cmd.Stderr = &out, &out
				if err := cmd.Start(); err != nil {
					t.Fatal(err)
				}
				done := make(chan error, 1)
				go func() { done <- cmd.Wait() }()
				select {
				case err := <-done:
					if err == nil {
						t.Errorf("%s=%q: exited with status 0", tt.variable, set)
					}
					if !strings.Contains(out.String(), tt.variable) {
						t.Errorf("%s=%q: the message does not name %s:\n%s", tt.variable, set, tt.variable, out.String())
					}
				case <-time.After(5 * time.Second):
					cmd.Process.Kill()
					<-done
					t.Errorf("%s=%q: the program started serving without its keys", tt.variable, set)
				}
			}
		})
	}
}
