// Command crumbs answers an operator's questions about crumbs sessions
// without writing Go: it makes secrets, explains a cookie or a header token
// (which secret sealed it, its deadlines, its chunks, its values, or
// exactly why it does not open), plans a secret rotation, and lists or ends
// a user's sessions in a server store.
//
//	crumbs secret                      a new secret, as session.ParseSecrets reads it
//	crumbs inspect [flags] [TOKEN]     decode a Cookie header, chunk cookies or a header token
//	crumbs rotate [flags] < TOKENS     which sessions a new secret list would sign out
//	crumbs sessions list|end [flags]   a user's sessions in a server store
//
// Secrets are read from an environment variable (CRUMBS_SECRETS by
// default, --secrets-env to name another) or a file (--secrets-file),
// never from a flag, which other users of the machine can read in the
// process list. Every command has --help with examples and --json output.
//
// Exit codes: 0 success; 1 the answer is no (the token does not open, the
// rotation would sign sessions out, no such session); 2 the command could
// not run (a usage, secret or store error).
//
// Install: go install github.com/crumbs-go/session/cmd/crumbs@latest
package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/crumbs-go/session"
	"github.com/crumbs-go/session/chunking"
	_ "github.com/crumbs-go/session/cookiestore" // "cookie"
	"github.com/crumbs-go/session/crypto"
	"github.com/crumbs-go/session/driver"
	_ "github.com/crumbs-go/session/serverstore/pgstore"    // "postgres://…"
	_ "github.com/crumbs-go/session/serverstore/redisstore" // "redis://…"
)

// Exit codes.
const (
	exitOK    = 0
	exitNo    = 1
	exitUsage = 2
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Getenv))
}

// env is the part of a process's environment a command reads.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string
}

const usage = `crumbs: inspect and operate crumbs sessions.

Usage:
  crumbs secret [--json]
  crumbs inspect [--name session] [--store cookie] [--header] [--now TIME] [--redact] [--json] [TOKEN]
  crumbs rotate --proposed-env NAME | --proposed-file FILE [--name session] [--json] < TOKENS
  crumbs sessions list --store CONFIG --user USER [--json]
  crumbs sessions end --store CONFIG --user USER (--handle HANDLE | --all [--keep HANDLE]) [--json]

Secrets come from $CRUMBS_SECRETS (--secrets-env NAME for another variable)
or --secrets-file FILE: comma-separated base64, newest first, as
session.ParseSecrets reads them. Never on the command line.

Exit codes: 0 yes/done, 1 no (does not open, would sign out, not found),
2 usage, secret or store error. "crumbs COMMAND --help" for examples.
`

func run(args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) int {
	e := &env{stdin: stdin, stdout: stdout, stderr: stderr, getenv: getenv}
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	switch args[0] {
	case "secret":
		return e.secret(args[1:])
	case "inspect":
		return e.inspect(args[1:])
	case "rotate":
		return e.rotate(args[1:])
	case "sessions":
		return e.sessions(args[1:])
	case "-h", "--help", "help":
		fmt.Fprint(stdout, usage)
		return exitOK
	}
	fmt.Fprintf(stderr, "crumbs: unknown command %q\n\n%s", args[0], usage)
	return exitUsage
}

// flags is a command's flag set, with --help that prints the command's
// text and examples.
func (e *env) flags(name, help string) *flag.FlagSet {
	fs := flag.NewFlagSet("crumbs "+name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.Usage = func() {
		fmt.Fprint(e.stderr, help)
		fmt.Fprintln(e.stderr, "\nFlags:")
		fs.PrintDefaults()
	}
	return fs
}

// parse parses args; it reports the exit code when the command must stop
// (--help: 0; a bad flag: 2).
func parse(fs *flag.FlagSet, args []string) (int, bool) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK, false
		}
		return exitUsage, false
	}
	return 0, true
}

// secretFlags adds --secrets-env and --secrets-file.
type secretFlags struct {
	envName, file *string
}

func addSecretFlags(fs *flag.FlagSet, what string) secretFlags {
	return secretFlags{
		envName: fs.String("secrets-env", "CRUMBS_SECRETS", "the environment variable that holds the "+what+" secrets"),
		file:    fs.String("secrets-file", "", "a file that holds the "+what+" secrets (instead of the environment)"),
	}
}

// read returns the secrets the flags name, or an error that says where it
// looked and what to fix; never what a secret holds.
func (f secretFlags) read(e *env) ([][]byte, error) {
	var list, from string
	if *f.file != "" {
		b, err := os.ReadFile(*f.file)
		if err != nil {
			// Not the path: a secret given there by mistake would be printed.
			var pe *fs.PathError
			if errors.As(err, &pe) {
				err = pe.Err
			}
			return nil, fmt.Errorf("secrets: the file that --secrets-file (or --proposed-file) names cannot be read: %w", err)
		}
		list, from = strings.TrimSpace(string(b)), "the secrets file"
	} else {
		if !envName(*f.envName) {
			// Never echo it: a secret given here by mistake would be printed.
			return nil, errors.New("secrets: --secrets-env (or --proposed-env) takes the name of an environment variable (letters, digits, _), not a secret")
		}
		list, from = e.getenv(*f.envName), "$"+*f.envName
		if list == "" {
			return nil, fmt.Errorf("secrets: %s is empty or unset: export the application's secrets there, or name a file with --secrets-file", from)
		}
	}
	secrets, err := session.ParseSecrets(list)
	if err != nil {
		return nil, fmt.Errorf("secrets in %s: %w", from, err)
	}
	return secrets, nil
}

func envName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '_' || 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || i > 0 && '0' <= c && c <= '9') {
			return false
		}
	}
	return true
}

// fail prints err for a command and returns code.
func (e *env) fail(cmd string, code int, err error) int {
	fmt.Fprintf(e.stderr, "crumbs %s: %v\n", cmd, err)
	return code
}

func (e *env) printJSON(v any) {
	enc := json.NewEncoder(e.stdout)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	enc.Encode(v)
}

// secret prints a new secret.
func (e *env) secret(args []string) int {
	fs := e.flags("secret", `crumbs secret: print a new secret: 32 random bytes in base64, the format
session.ParseSecrets reads (as "openssl rand -base64 32" prints).

To rotate, put the new secret first in the list and keep the old one after
it until the sessions it sealed have expired.

Examples:
  export CRUMBS_SECRETS="$(crumbs secret),$CRUMBS_SECRETS"
  crumbs secret --json
`)
	asJSON := fs.Bool("json", false, `print {"secret": "…"}`)
	if code, ok := parse(fs, args); !ok {
		return code
	}
	if fs.NArg() > 0 {
		return e.fail("secret", exitUsage, fmt.Errorf("unexpected argument %q", fs.Arg(0)))
	}
	b := make([]byte, 32)
	rand.Read(b)
	s := base64.StdEncoding.EncodeToString(b)
	if *asJSON {
		e.printJSON(map[string]string{"secret": s})
	} else {
		fmt.Fprintln(e.stdout, s)
	}
	return exitOK
}

// token is what inspect and rotate read: one value, or a set of cookies.
type token struct {
	header bool              // a header token (Authorization: Bearer …, or --header)
	value  string            // the value, for a header token or a bare value
	pairs  [][2]string       // cookies, in the order given
	chunks []chunkInfo       // the session's cookies among pairs
	codec  *chunking.Codec   // the cookie name's codec
	values map[string]string // pairs by name
}

type chunkInfo struct {
	Name  string `json:"name"`
	Bytes int    `json:"bytes"` // len(name) + len(value): what browsers limit to 4096
}

// parseToken reads a Cookie header ("Cookie: a=b; c=d" or "a=b; c=d"), an
// Authorization header or a bare value. The token is never nil.
func parseToken(text, name string, header bool) (*token, error) {
	text = strings.TrimSpace(text)
	t := &token{header: header, values: map[string]string{}}
	if k, v, ok := strings.Cut(text, ":"); ok && !strings.ContainsAny(k, " =;") {
		switch strings.ToLower(k) {
		case "cookie":
			text = strings.TrimSpace(v)
		case "authorization", "session-token":
			t.header, text = true, strings.TrimSpace(v)
		default:
			return t, fmt.Errorf("a %s header: give a Cookie header, an Authorization header or a value", k)
		}
	}
	if rest, ok := strings.CutPrefix(text, "Bearer "); ok {
		t.header, text = true, strings.TrimSpace(rest)
	}
	if t.header || !strings.Contains(text, "=") || !strings.Contains(text, ";") && strings.HasSuffix(text, "=") {
		t.value = text
		return t, nil
	}
	for part := range strings.SplitSeq(text, ";") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			continue
		}
		t.pairs = append(t.pairs, [2]string{k, v})
		if _, dup := t.values[k]; !dup {
			t.values[k] = v
		}
		if k == name || strings.HasPrefix(k, name+".") && isIndex(k[len(name)+1:]) {
			t.chunks = append(t.chunks, chunkInfo{Name: k, Bytes: len(k) + len(v)})
		}
	}
	if len(t.chunks) == 0 {
		var names []string
		for _, p := range t.pairs {
			names = append(names, p[0])
		}
		return t, fmt.Errorf("no cookie named %q among %s: give the session cookie's name with --name", name, strings.Join(names, ", "))
	}
	return t, nil
}

func isIndex(s string) bool {
	if s == "" || len(s) > 3 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// join returns the one value the token carries: the header token, the
// bare value, or the session's chunk cookies reassembled.
func (t *token) join(name string, maxChunks int) (string, error) {
	if t.pairs == nil {
		return t.value, nil
	}
	c, err := chunking.New(name, chunking.WithMaxChunks(maxChunks))
	if err != nil {
		return "", err
	}
	t.codec = c
	return c.Join(func(yield func(string, string) bool) {
		for _, p := range t.pairs {
			if !yield(p[0], p[1]) {
				return
			}
		}
	})
}

// binding is the name the value is sealed or signed for: the cookie name,
// or "header:" and the name for a header token (spec/header-token-v1.md).
func (t *token) binding(name string) string {
	if t.header {
		return "header:" + name
	}
	return name
}

// readInput returns the positional argument, or standard input.
func (e *env) readInput(fs *flag.FlagSet) (string, error) {
	if fs.NArg() > 1 {
		return "", fmt.Errorf("one token at a time; got %d arguments: quote a Cookie header (it holds spaces), and give the flags before the token", fs.NArg())
	}
	if fs.NArg() == 1 && fs.Arg(0) != "-" {
		return fs.Arg(0), nil
	}
	b, err := io.ReadAll(io.LimitReader(e.stdin, 1<<20+1))
	if err != nil {
		return "", err
	}
	if len(b) > 1<<20 {
		return "", errors.New("the input is over 1 MiB: no session token is that large")
	}
	return string(b), nil
}

// The JSON of inspect.
type inspection struct {
	Opens      bool              `json:"opens"`
	Reason     string            `json:"reason,omitempty"`
	Kind       string            `json:"kind"` // "sealed" (cookie mode) or "signed" (server mode)
	Transport  string            `json:"transport"`
	Name       string            `json:"name"`
	Version    int               `json:"version,omitempty"`
	Cipher     string            `json:"cipher,omitempty"`
	KeyID      string            `json:"key_id,omitempty"`
	Secret     *int              `json:"secret,omitempty"` // 1-based position in the list; absent when none
	Rotated    bool              `json:"rotated,omitempty"`
	Chunks     []chunkInfo       `json:"chunks,omitempty"`
	ValueBytes int               `json:"value_bytes"`
	Compressed bool              `json:"compressed,omitempty"`
	Padded     bool              `json:"padded,omitempty"`
	DataBytes  int               `json:"data_bytes,omitempty"`
	Issued     *time.Time        `json:"issued,omitempty"`
	Absolute   *time.Time        `json:"absolute_deadline,omitempty"`
	Idle       *time.Time        `json:"idle_deadline,omitempty"`
	ID         string            `json:"id,omitempty"`
	User       string            `json:"user,omitempty"`
	Values     map[string]string `json:"values,omitempty"`
}

func (e *env) inspect(args []string) int {
	fs := e.flags("inspect", `crumbs inspect: decode a session token with the application's secrets and
say what it holds: format version and cipher, key ID and which secret opened
it, chunk cookies and their sizes, compression, issued time and deadlines,
the session ID and values; or exactly why it does not open.

The token is the argument, or standard input: a Cookie header (with or
without "Cookie: "), the session cookie's value, or a header token
("Authorization: Bearer …", or a value with --header).

Examples:
  crumbs inspect 'Cookie: session=2.AXt…; session.1=Qm…'
  pbpaste | crumbs inspect --json
  crumbs inspect --header 'Bearer ASOmZ…'
  crumbs inspect --store 'redis://127.0.0.1:6379/0' 'session=Zm9v…'   (server mode: reads the record)
  crumbs inspect --redact --json < cookie.txt

Exit code 0 when the token opens, 1 when it does not (the reason is
printed), 2 when the command could not run.
`)
	name := fs.String("name", "session", "the session cookie's name (session.WithCookieName)")
	store := fs.String("store", "cookie", `the store's configuration string: "cookie" (cookie mode), or a server store's ("memory" cannot be reached from here)`)
	header := fs.Bool("header", false, "the token is a header token (session.WithHeaderToken)")
	nowFlag := fs.String("now", "", "check deadlines at this time (RFC 3339) instead of now")
	maxChunks := fs.Int("max-chunks", 2, "the Manager's session.WithMaxChunks")
	redact := fs.Bool("redact", false, "print each value's size instead of the value")
	asJSON := fs.Bool("json", false, "print JSON")
	sf := addSecretFlags(fs, "application's")
	if code, ok := parse(fs, args); !ok {
		return code
	}
	now := time.Now()
	if *nowFlag != "" {
		t, err := time.Parse(time.RFC3339, *nowFlag)
		if err != nil {
			return e.fail("inspect", exitUsage, fmt.Errorf("--now %q: give a time as 2026-12-07T10:00:00Z", *nowFlag))
		}
		now = t
	}
	secrets, err := sf.read(e)
	if err != nil {
		return e.fail("inspect", exitUsage, err)
	}
	ring, err := crypto.New(secrets)
	if err != nil {
		return e.fail("inspect", exitUsage, err)
	}
	text, err := e.readInput(fs)
	if err != nil {
		return e.fail("inspect", exitUsage, err)
	}
	if unreachable(*store) {
		return e.fail("inspect", exitUsage, errors.New(`--store memory: the memory store lives in the application's process, which this command cannot reach; give a Redis or PostgreSQL configuration string`))
	}
	cookieMode := *store == "cookie" || strings.HasPrefix(*store, "cookie?")
	out := inspection{Name: *name, Transport: "cookie", Kind: "signed"}
	if cookieMode {
		out.Kind = "sealed"
	}
	defer func() {
		if *asJSON {
			e.printJSON(out)
		} else {
			e.printInspection(out)
		}
	}()
	tok, err := parseToken(text, *name, *header)
	if tok.header {
		out.Transport = "header"
	}
	if err != nil {
		out.Reason = err.Error()
		return exitNo
	}
	out.Chunks = tok.chunks
	bind := tok.binding(*name)
	value, err := tok.join(*name, *maxChunks)
	if err != nil {
		out.Reason = err.Error()
		return exitNo
	}
	out.ValueBytes = len(value)
	var envl crypto.Envelope
	if cookieMode {
		var p crypto.Payload
		envl, p, err = ring.Inspect(bind, value, now)
		if !p.IssuedAt.IsZero() {
			out.Issued, out.Absolute, out.Idle = timePtr(p.IssuedAt), timePtr(p.Expires), timePtr(p.IdleExpires)
			out.Compressed, out.Padded, out.DataBytes = envl.Compressed, envl.Padded, len(p.Data)
		}
	} else {
		envl, _, err = ring.InspectSigned(bind, value)
	}
	out.Version = envl.Version
	if envl.Version > 0 {
		out.KeyID = hex.EncodeToString(envl.KeyID[:])
		if c := crypto.Cipher(envl.Version); cookieMode && (c == crypto.XChaCha20Poly1305 || c == crypto.AES256GCM) {
			out.Cipher = c.String()
		}
	}
	if envl.Secret >= 0 {
		n := envl.Secret + 1
		out.Secret, out.Rotated = &n, envl.Secret > 0
	}
	if err != nil {
		out.Reason = explain(err, envl, tok, *name, false)
		return exitNo
	}
	// The record: its ID and values, through the store as the application
	// reads them.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := session.OpenStore(ctx, *store, secrets)
	if err != nil {
		out.Reason = "the store could not be opened: " + err.Error()
		return e.fail("inspect", exitUsage, err)
	}
	if c, ok := st.(io.Closer); ok {
		defer c.Close()
	}
	rec, err := st.Load(ctx, bind, value, now)
	if err != nil {
		out.Reason = explain(err, envl, tok, *name, true)
		if !errors.Is(err, driver.ErrInvalid) && !errors.Is(err, driver.ErrNotFound) {
			out.Reason = "the store failed: " + err.Error()
			return e.fail("inspect", exitUsage, err)
		}
		return exitNo
	}
	out.Opens, out.ID, out.User = true, rec.ID, rec.User
	if !cookieMode {
		out.Absolute, out.Idle = timePtr(rec.Expires), timePtr(rec.IdleExpires)
	}
	vals := rec.Values
	if vals == nil && len(rec.Data) > 0 {
		if vals, err = session.JSON.DecodeMap(rec.Data); err != nil {
			out.Reason = "the values are not JSON (a Gob codec?): " + err.Error()
		}
	}
	out.Values = map[string]string{}
	for k, v := range vals {
		if *redact {
			out.Values[k] = fmt.Sprintf("(%d bytes)", len(v))
		} else {
			out.Values[k] = string(v)
		}
	}
	return exitOK
}

// unreachable reports the memory store, which lives in the application.
func unreachable(config string) bool {
	return config == "memory" || strings.HasPrefix(config, "memory?")
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	t = t.UTC()
	return &t
}

// printable returns s, or s quoted when it holds a control character or
// invalid UTF-8 (a key or value that would forge lines or move the cursor).
func printable(s string) string {
	if !utf8.ValidString(s) || strings.ContainsFunc(s, unicode.IsControl) {
		return strconv.Quote(s)
	}
	return s
}

// explain turns a refusal into what the operator should know.
func explain(err error, envl crypto.Envelope, tok *token, name string, fromStore bool) string {
	msg := err.Error()
	switch {
	case fromStore && errors.Is(err, driver.ErrNotFound):
		return "the signature verifies, but the store holds no such session: ended, expired or never saved (" + msg + ")"
	case errors.Is(err, chunking.ErrNotFound):
		return "no session cookie: " + msg
	case envl.Version == 0:
		return "not a crumbs value: " + msg + " (a server-mode cookie? give its store with --store)"
	case strings.Contains(msg, "unsupported version"):
		return fmt.Sprintf("not a crumbs value, or of a later format: version byte %d (%s)", envl.Version, msg)
	case envl.Secret < 0:
		return fmt.Sprintf("sealed or signed under key ID %x, which no secret of the list has: a secret since removed, another application's, or the wrong list (%s)", envl.KeyID, msg)
	case strings.Contains(msg, "authentication failed") || strings.Contains(msg, "does not verify"):
		hint := "altered, or sealed for another cookie name than " + fmt.Sprintf("%q", tok.binding(name))
		if tok.header {
			hint += " (a cookie value is not a header token: drop --header)"
		} else {
			hint += " (a header token is not a cookie: add --header; or give --name)"
		}
		return msg + ": " + hint
	}
	return msg
}

func (e *env) printInspection(o inspection) {
	w := e.stdout
	if o.Opens {
		fmt.Fprintln(w, "opens: yes")
	} else {
		fmt.Fprintf(w, "opens: no: %s\n", o.Reason)
	}
	fmt.Fprintf(w, "kind: %s (%s mode), %s %q\n", o.Kind, map[string]string{"sealed": "cookie", "signed": "server"}[o.Kind], o.Transport, o.Name)
	if o.Version > 0 {
		fmt.Fprintf(w, "format: version %d", o.Version)
		if o.Cipher != "" {
			fmt.Fprintf(w, " (%s)", o.Cipher)
		}
		fmt.Fprintf(w, ", key ID %s\n", o.KeyID)
	}
	switch {
	case o.Secret == nil && o.Version > 0:
		fmt.Fprintln(w, "secret: none of the list")
	case o.Secret != nil && *o.Secret == 1:
		fmt.Fprintln(w, "secret: 1 of the list (the primary)")
	case o.Secret != nil:
		fmt.Fprintf(w, "secret: %d of the list (an older one: the next response re-seals it under the first)\n", *o.Secret)
	}
	for _, c := range o.Chunks {
		fmt.Fprintf(w, "cookie: %s, %d of 4096 bytes\n", c.Name, c.Bytes)
	}
	fmt.Fprintf(w, "value: %d characters", o.ValueBytes)
	if o.DataBytes > 0 || o.Kind == "sealed" && o.Issued != nil {
		fmt.Fprintf(w, ", %d bytes of session data", o.DataBytes)
		if o.Compressed {
			fmt.Fprint(w, ", compressed")
		}
		if o.Padded {
			fmt.Fprint(w, ", padded")
		}
	}
	fmt.Fprintln(w)
	for _, t := range []struct {
		label string
		at    *time.Time
	}{{"issued", o.Issued}, {"absolute deadline", o.Absolute}, {"idle deadline", o.Idle}} {
		if t.at != nil {
			fmt.Fprintf(w, "%s: %s\n", t.label, t.at.Format(time.RFC3339))
		}
	}
	if o.ID != "" {
		fmt.Fprintf(w, "id: %s\n", o.ID)
	}
	if o.User != "" {
		fmt.Fprintf(w, "user: %s\n", o.User)
	}
	keys := make([]string, 0, len(o.Values))
	for k := range o.Values {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(w, "  %s = %s\n", printable(k), printable(o.Values[k]))
	}
}
