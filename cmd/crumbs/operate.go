package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/crumbs-go/session"
	"github.com/crumbs-go/session/crypto"
	"github.com/crumbs-go/session/devices"
)

// The JSON of rotate: one line per token, and the totals.
type rotation struct {
	Tokens  int            `json:"tokens"`
	Keep    int            `json:"keep"`     // open under the proposed list, its first secret sealed them
	Reseal  int            `json:"reseal"`   // open under the proposed list by an older secret: re-sealed on their next response
	SignOut int            `json:"sign_out"` // open today, not under the proposed list
	Invalid int            `json:"invalid"`  // do not open today either
	Lines   []rotationLine `json:"lines"`
}

type rotationLine struct {
	Line     int    `json:"line"`
	Today    string `json:"today"`    // "secret N", or why not
	Proposed string `json:"proposed"` // "secret N", or why not
	Verdict  string `json:"verdict"`  // keep, reseal, sign_out, invalid
}

func (e *env) rotate(args []string) int {
	fs := e.flags("rotate", `crumbs rotate: plan a secret rotation. Given the current secrets and a
proposed list, and a sample of tokens on standard input (one per line: a
Cookie header, a cookie value or a header token, as inspect reads them),
say which would stop opening under the proposed list: the sessions the
change would sign out.

Rotating is: put a new secret first, keep the old ones after it until the
sessions they sealed have expired, then drop them. A token sealed by a
secret the proposed list drops is signed out; one sealed by a secret that
stays but is no longer first is re-sealed on its next response.

In server mode the session records do not depend on the secrets (they are
keyed by a hash of the ID); the cookie's signature does, so the same
sample of cookies answers the question. The store cannot: it does not know
which secret signed the cookie a browser holds.

Examples:
  export CRUMBS_SECRETS="$OLD" CRUMBS_PROPOSED="$(crumbs secret),$OLD"
  crumbs rotate --proposed-env CRUMBS_PROPOSED < sampled-cookies.txt
  crumbs rotate --proposed-file next.txt --json < tokens.txt

Exit code 0 when no token of the sample would be signed out, 1 when some
would, 2 when the command could not run.
`)
	name := fs.String("name", "session", "the session cookie's name (session.WithCookieName)")
	server := fs.Bool("server", false, "the tokens are server mode's signed IDs, not sealed sessions")
	header := fs.Bool("header", false, "bare values are header tokens (session.WithHeaderToken); \"Authorization: Bearer …\" lines are read as such anyway")
	maxChunks := fs.Int("max-chunks", 2, "the Manager's session.WithMaxChunks")
	proposedEnv := fs.String("proposed-env", "", "the environment variable that holds the proposed secrets")
	proposedFile := fs.String("proposed-file", "", "a file that holds the proposed secrets")
	asJSON := fs.Bool("json", false, "print JSON")
	sf := addSecretFlags(fs, "current")
	if code, ok := parse(fs, args); !ok {
		return code
	}
	if (*proposedEnv == "") == (*proposedFile == "") {
		return e.fail("rotate", exitUsage, errors.New("give the proposed secrets with --proposed-env NAME or --proposed-file FILE (one of them)"))
	}
	current, err := sf.read(e)
	if err != nil {
		return e.fail("rotate", exitUsage, err)
	}
	envName := *proposedEnv
	if envName == "" {
		envName = "-" // unused: the file is read
	}
	proposed, err := secretFlags{envName: &envName, file: proposedFile}.read(e)
	if err != nil {
		return e.fail("rotate", exitUsage, fmt.Errorf("proposed %s", strings.ReplaceAll(err.Error(), "--secrets-file", "--proposed-file")))
	}
	now := time.Now()
	rings := make([]*crypto.Ring, 2)
	for i, s := range [][][]byte{current, proposed} {
		if rings[i], err = crypto.New(s); err != nil {
			return e.fail("rotate", exitUsage, err)
		}
	}
	var out rotation
	sc := bufio.NewScanner(io.LimitReader(e.stdin, 64<<20))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		out.Tokens++
		line := rotationLine{Line: n}
		opens := make([]int, 2) // the 1-based secret that opens it under each list; 0: none
		tok, err := parseToken(text, *name, *header)
		var value string
		if err == nil {
			value, err = tok.join(*name, *maxChunks)
		}
		for i, r := range rings {
			var why string
			switch {
			case err != nil:
				why = err.Error()
			default:
				var envl crypto.Envelope
				var verr error
				if *server {
					envl, _, verr = r.InspectSigned(tok.binding(*name), value)
				} else {
					envl, _, verr = r.Inspect(tok.binding(*name), value, now)
				}
				if verr == nil {
					opens[i] = envl.Secret + 1
				} else {
					why = verr.Error()
				}
			}
			text := fmt.Sprintf("secret %d", opens[i])
			if opens[i] == 0 {
				text = why
			}
			if i == 0 {
				line.Today = text
			} else {
				line.Proposed = text
			}
		}
		switch {
		case opens[0] == 0:
			line.Verdict = "invalid"
			out.Invalid++
		case opens[1] == 0:
			line.Verdict = "sign_out"
			out.SignOut++
		case opens[1] == 1:
			line.Verdict = "keep"
			out.Keep++
		default:
			line.Verdict = "reseal"
			out.Reseal++
		}
		out.Lines = append(out.Lines, line)
	}
	if err := sc.Err(); err != nil {
		return e.fail("rotate", exitUsage, err)
	}
	if out.Tokens == 0 {
		return e.fail("rotate", exitUsage, errors.New("no tokens on standard input: give one per line"))
	}
	if out.Invalid == out.Tokens {
		// Nothing opens today: the sample says nothing about the rotation.
		if *asJSON {
			e.printJSON(out)
		}
		return e.fail("rotate", exitUsage, fmt.Errorf("none of the %d tokens opens under the current secrets, so the sample answers nothing: check --name, --server (server mode) or --header (header tokens), and the secrets (first reason: %s)", out.Tokens, out.Lines[0].Today))
	}
	if *asJSON {
		e.printJSON(out)
	} else {
		for _, l := range out.Lines {
			fmt.Fprintf(e.stdout, "line %d: %s (today: %s; proposed: %s)\n", l.Line, strings.ReplaceAll(l.Verdict, "_", " "), l.Today, l.Proposed)
		}
		fmt.Fprintf(e.stdout, "%d tokens: %d keep, %d re-sealed on their next response, %d signed out, %d invalid today\n",
			out.Tokens, out.Keep, out.Reseal, out.SignOut, out.Invalid)
		if out.Invalid > 0 {
			fmt.Fprintf(e.stdout, "%d tokens do not open today: expired, or not of this application (--name, --server, --header)\n", out.Invalid)
		}
	}
	if out.SignOut > 0 {
		return exitNo
	}
	return exitOK
}

func (e *env) sessions(args []string) int {
	help := `crumbs sessions: list a user's sessions in a server store, or end them
(the per-user index of session.WithIdentityKey; package devices).

  crumbs sessions list --store CONFIG --user USER [--json]
  crumbs sessions end --store CONFIG --user USER --handle HANDLE
  crumbs sessions end --store CONFIG --user USER --all [--keep HANDLE]

CONFIG is the application's configuration string (redis://…, postgres://…);
the secrets are the application's (handles are keyed by them).

Examples:
  crumbs sessions list --store "$SESSION_STORE" --user ada
  crumbs sessions end --store "$SESSION_STORE" --user ada --all
  crumbs sessions end --store "$SESSION_STORE" --user ada --handle 3q2-7w

Exit code 0 when done, 1 when there is no such session, 2 when the
command could not run.
`
	if len(args) == 0 || (args[0] != "list" && args[0] != "end") {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
			fmt.Fprint(e.stderr, help)
			return exitOK
		}
		fmt.Fprint(e.stderr, help)
		return exitUsage
	}
	verb := args[0]
	fs := e.flags("sessions "+verb, help)
	store := fs.String("store", "", "the store's configuration string")
	user := fs.String("user", "", "the user: the identity value (session.WithIdentityKey) as text")
	handle := fs.String("handle", "", "end: the session's handle, as list prints it")
	all := fs.Bool("all", false, "end: every session of the user")
	keep := fs.String("keep", "", "end --all: the handle of a session to keep")
	asJSON := fs.Bool("json", false, "print JSON")
	sf := addSecretFlags(fs, "application's")
	if code, ok := parse(fs, args[1:]); !ok {
		return code
	}
	switch {
	case *store == "" || *user == "":
		return e.fail("sessions", exitUsage, errors.New("give --store and --user"))
	case verb == "end" && (*handle == "") == !*all:
		return e.fail("sessions", exitUsage, errors.New("end: give --handle HANDLE or --all (one of them)"))
	case verb == "list" && (*handle != "" || *all || *keep != ""):
		return e.fail("sessions", exitUsage, errors.New("list takes --store and --user only"))
	case unreachable(*store):
		return e.fail("sessions", exitUsage, errors.New("--store memory: the memory store lives in the application's process, which this command cannot reach; give a Redis or PostgreSQL configuration string"))
	}
	secrets, err := sf.read(e)
	if err != nil {
		return e.fail("sessions", exitUsage, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := session.OpenStore(ctx, *store, secrets)
	if err != nil {
		return e.fail("sessions", exitUsage, err)
	}
	if c, ok := st.(io.Closer); ok {
		defer c.Close()
	}
	idx, err := devices.New(st)
	if err != nil {
		return e.fail("sessions", exitUsage, err)
	}
	switch {
	case verb == "list":
		list, err := idx.List(ctx, *user)
		if err != nil {
			return e.fail("sessions", exitUsage, err)
		}
		if *asJSON {
			type device struct {
				Handle    string    `json:"handle"`
				Created   time.Time `json:"created"`
				LastSeen  time.Time `json:"last_seen"`
				UserAgent string    `json:"user_agent,omitempty"`
				Addr      string    `json:"addr,omitempty"`
			}
			out := []device{}
			for _, d := range list {
				out = append(out, device{d.Handle, d.Created.UTC(), d.LastSeen.UTC(), d.UserAgent, d.Addr})
			}
			e.printJSON(out)
		} else {
			for _, d := range list {
				fmt.Fprintf(e.stdout, "%s  created %s  last seen %s", d.Handle, d.Created.UTC().Format(time.RFC3339), d.LastSeen.UTC().Format(time.RFC3339))
				if d.UserAgent != "" || d.Addr != "" {
					fmt.Fprintf(e.stdout, "  %s %s", printable(d.Addr), printable(d.UserAgent))
				}
				fmt.Fprintln(e.stdout)
			}
			fmt.Fprintf(e.stdout, "%d sessions of %q\n", len(list), *user)
		}
		return exitOK
	case *all:
		n, err := idx.EndAll(ctx, *user, *keep)
		if err != nil {
			return e.fail("sessions", exitUsage, err)
		}
		if *asJSON {
			e.printJSON(map[string]int{"ended": n})
		} else {
			fmt.Fprintf(e.stdout, "ended %d sessions of %q\n", n, *user)
		}
		return exitOK
	default:
		ok, err := idx.End(ctx, *user, *handle)
		if err != nil {
			return e.fail("sessions", exitUsage, err)
		}
		if *asJSON {
			e.printJSON(map[string]bool{"ended": ok})
		} else if ok {
			fmt.Fprintf(e.stdout, "ended session %s of %q\n", *handle, *user)
		} else {
			fmt.Fprintf(e.stdout, "no session %s of %q\n", *handle, *user)
		}
		if !ok {
			return exitNo
		}
		return exitOK
	}
}
