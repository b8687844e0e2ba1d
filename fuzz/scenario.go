package fuzz

import (
	"fmt"
	"strings"
	"time"
)

// bytes reads a fuzzer's input as a scenario's choices. Past the end it
// gives zeros, so every input is a scenario, and a shorter one a simpler
// one.
type bytes struct {
	b []byte
}

func (r *bytes) byte() byte {
	if len(r.b) == 0 {
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

func (r *bytes) intn(n int) int { return int(r.byte()) % n }
func (r *bytes) bit() bool      { return r.byte()&1 == 1 }
func (r *bytes) empty() bool    { return len(r.b) == 0 }

// pick returns one of choices.
func pick[T any](r *bytes, choices ...T) T { return choices[r.intn(len(choices))] }

// Options is the Manager configuration a scenario runs under, besides what
// Config says.
type Options struct {
	Config
	Names     []string // cookie names, one Manager each (nested in this order)
	MaxChunks int
	Budget    int // the cookie budget; 0: the default
}

// valueCap bounds a session's encoded values so that it fits its cookies
// under every compression outcome: the model cannot know compressed sizes,
// so scenarios stay below what an incompressible session would need.
func (o *Options) valueCap() int {
	budget := o.Budget
	if budget == 0 {
		budget = 4000
	}
	n := o.MaxChunks * (budget - 40) * 3 / 4
	if o.Header {
		n = 8000 * 3 / 4
	}
	return min(n, 24000) - 300
}

var (
	idles     = []time.Duration{0, 2 * time.Second, 4 * time.Second, 30 * time.Second, 10 * time.Minute}
	lifetimes = []time.Duration{0, 5 * time.Second, time.Minute, time.Hour, 24 * time.Hour}
	advances  = []time.Duration{500 * time.Millisecond, time.Second, 2 * time.Second, 3 * time.Second, 5 * time.Second,
		30 * time.Second, 61 * time.Second, TombstoneTTL + time.Second, time.Hour, 25 * time.Hour}
	names = []string{"session", "__Host-sid", "__Secure-s", "__host-x", "app.sid"}
)

// options decodes the configuration.
func options(r *bytes, server, header bool) Options {
	o := Options{Config: Config{Server: server, Header: header}}
	o.Idle, o.Lifetime = pick(r, idles...), pick(r, lifetimes...)
	if o.Idle == 0 && o.Lifetime == 0 {
		o.Lifetime = time.Minute
	}
	flags := r.byte()
	o.Rolling, o.Resave, o.SaveUninitialized = flags&1 != 0, flags&2 != 0, flags&4 != 0
	o.UnsetDestroy, o.BrowserSession = flags&8 != 0, flags&16 != 0
	if flags&64 != 0 {
		o.IdentityKey = "c" // no parallel request touches it
	}
	o.Names = []string{pick(r, names...)}
	if flags&32 != 0 && !header {
		o.Names = append(o.Names, "aux")
	}
	o.MaxChunks = pick(r, 1, 2, 3, 9, 180)
	o.Budget = pick(r, 0, 0, 1200, 600)
	return o
}

// Op is one call a handler makes on a session.
type Op struct {
	Kind OpKind
	Mgr  int    // which Manager's session
	Key  string // Get, Set, Delete, Pop
	Val  string // Set: the value; AddFlash: the message
	Size int    // SetBig: the value's length
	Keep bool   // Regenerate
	On   bool   // SetBrowserSession
	D    time.Duration
}

type OpKind uint8

const (
	OpGet OpKind = iota
	OpSet
	OpSetBig
	OpDelete
	OpClear
	OpPop
	OpAddFlash
	OpFlashes
	OpUpdate
	OpRegenerate
	OpDestroy
	OpTouch
	OpSetLifetime
	OpSetBrowserSession
	OpReload
	OpSave
	OpWrite
	OpDeadline
	numOps
)

var opNames = [...]string{"Get", "Set", "SetBig", "Delete", "Clear", "Pop", "AddFlash", "Flashes", "Update", "Regenerate",
	"Destroy", "Touch", "SetLifetime", "SetBrowserSession", "Reload", "Save", "Write", "Deadline"}

func (o Op) String() string {
	s := opNames[o.Kind]
	switch o.Kind {
	case OpGet, OpDelete, OpPop:
		s += "(" + o.Key + ")"
	case OpSet:
		s += fmt.Sprintf("(%s, %s)", o.Key, o.Val)
	case OpSetBig:
		s += fmt.Sprintf("(%d bytes)", o.Size)
	case OpAddFlash:
		s += "(" + o.Val + ")"
	case OpRegenerate:
		s += fmt.Sprintf("(keep=%t)", o.Keep)
	case OpSetBrowserSession:
		s += fmt.Sprintf("(%t)", o.On)
	case OpSetLifetime:
		s += fmt.Sprintf("(%v)", o.D)
	}
	if o.Mgr > 0 {
		s = fmt.Sprintf("m%d.%s", o.Mgr, s)
	}
	return s
}

var keys = []string{"a", "b", "c"}

// op decodes one operation.
func op(r *bytes, o *Options) Op {
	c := r.byte()
	x := Op{Kind: OpKind(c % byte(numOps))}
	if len(o.Names) > 1 {
		x.Mgr = int(c>>7) & 1
	}
	switch x.Kind {
	case OpGet, OpDelete, OpPop:
		x.Key = pick(r, "a", "b", "c", "big", "n", FlashKey)
	case OpSet:
		x.Key, x.Val = pick(r, keys...), fmt.Sprintf("v%d", r.byte())
	case OpSetBig:
		x.Size = pick(r, 300, 1000, 2500, 6000, 20000)
	case OpAddFlash:
		x.Val = fmt.Sprintf("f%d", r.byte())
	case OpRegenerate:
		x.Keep = r.bit()
	case OpSetBrowserSession:
		x.On = r.bit()
	case OpSetLifetime:
		x.D = pick(r, -time.Second, 0, 3*time.Second, time.Hour, 500*24*time.Hour)
	}
	return x
}

// StepKind is what happens between or instead of single requests.
type StepKind uint8

const (
	StepRequest  StepKind = iota // one request of a client
	StepAdvance                  // the clock moves
	StepRotate                   // a new secret goes first
	StepHostile                  // a client does something to what it holds
	StepParallel                 // requests of one client in parallel
	numSteps
)

// Hostile is what a lossy or hostile client does to its tokens.
type Hostile uint8

const (
	Tamper       Hostile = iota // changes a character of the session cookie or token
	Forge                       // replaces it with a base cookie that declares absent chunks
	DropAll                     // loses what it holds
	DropChunk                   // loses one chunk cookie, if there are any
	Snapshot                    // keeps a copy of what it holds
	Replay                      // puts the copy back (an old cookie, a stolen one)
	CopyFrom                    // takes another client's tokens (a copied cookie)
	CloseBrowser                // drops cookies without Max-Age
	KeepChunks                  // from now on ignores deletions of chunk cookies
	numHostile
)

var hostileNames = [...]string{"Tamper", "Forge", "DropAll", "DropChunk", "Snapshot", "Replay", "CopyFrom", "CloseBrowser", "KeepChunks"}

func (h Hostile) String() string { return hostileNames[h] }

// PKind is what one request of a parallel group does.
type PKind uint8

const (
	PSet        PKind = iota // sets a key of its own
	PUpdate                  // Update: adds one to n
	PFlash                   // AddFlash: a message of its own
	PRead                    // reads, changes nothing
	PTouch                   // Touch
	PDestroy                 // Destroy (a logout)
	PRegenerate              // Regenerate(true) (a login)
	PDelete                  // deletes a (a key the session held before the group)
	numPKinds
)

var pkindNames = [...]string{"Set", "Update", "AddFlash", "Read", "Touch", "Destroy", "Regenerate", "Delete"}

func (k PKind) String() string { return pkindNames[k] }

// Step is one step of a scenario.
type Step struct {
	Kind    StepKind
	Client  int
	Ops     []Op
	D       time.Duration
	Hostile Hostile
	Other   int     // CopyFrom
	Group   []PKind // StepParallel
}

func (s Step) String() string {
	switch s.Kind {
	case StepRequest:
		ops := make([]string, len(s.Ops))
		for i, o := range s.Ops {
			ops[i] = o.String()
		}
		return fmt.Sprintf("client %d: request [%s]", s.Client, strings.Join(ops, " "))
	case StepAdvance:
		return fmt.Sprintf("clock +%v", s.D)
	case StepRotate:
		return "rotate the secrets"
	case StepHostile:
		if s.Hostile == CopyFrom {
			return fmt.Sprintf("client %d: copies client %d's tokens", s.Client, s.Other)
		}
		return fmt.Sprintf("client %d: %v", s.Client, s.Hostile)
	}
	return fmt.Sprintf("client %d: parallel %v", s.Client, s.Group)
}

// stepKinds weighs the kinds of step: requests most, a rotation rarely
// (two in a row end every session).
var stepKinds = [16]StepKind{
	StepRequest, StepRequest, StepRequest, StepRequest, StepRequest, StepRequest, StepRequest,
	StepAdvance, StepAdvance, StepAdvance, StepAdvance,
	StepRotate, StepHostile, StepHostile, StepParallel, StepParallel,
}

// advance picks a clock advance: half of the time a fixed one, else one
// measured by the configured timeouts, so that the deadlines and the
// refresh rule's half-idle mark are met as often as passed.
func (sc *Scenario) advance(r *bytes) time.Duration {
	c := r.byte()
	if c < 128 {
		return advances[int(c)%len(advances)]
	}
	var rel []time.Duration
	for _, d := range []time.Duration{sc.Idle, sc.Lifetime} {
		if d > 0 {
			rel = append(rel, d/4, d/2, d/2+time.Second, 3*d/4, d-time.Second, d, d+time.Second)
		}
	}
	if d := rel[int(c)%len(rel)]; d > 0 {
		return d
	}
	return time.Second
}

// Scenario is a fuzzer input decoded.
type Scenario struct {
	Options
	Clients int
	Steps   []Step
	// Order is the rest of the input: it chooses the interleaving of the
	// parallel groups' steps at the Store boundary.
	Order []byte
}

// Limits of a scenario, so that one input runs in milliseconds.
const (
	maxSteps = 40
	maxOps   = 8
	maxGroup = 4
)

// Decode turns fuzzer bytes into a scenario. parallel allows parallel
// groups; hostile allows hostile clients.
func Decode(data []byte, server, header, parallel, hostile bool) *Scenario {
	r := &bytes{b: data}
	sc := &Scenario{Options: options(r, server, header)}
	sc.Clients = 1 + r.intn(3)
	n := r.intn(maxSteps + 1)
	for range n {
		if r.empty() {
			break
		}
		st := Step{Client: r.intn(sc.Clients)}
		k := stepKinds[r.byte()%16]
		switch {
		case k == StepParallel && !parallel, k == StepHostile && !hostile:
			k = StepRequest
		}
		st.Kind = k
		switch k {
		case StepRequest:
			for range r.intn(maxOps + 1) {
				st.Ops = append(st.Ops, op(r, &sc.Options))
			}
		case StepAdvance:
			st.D = sc.advance(r)
		case StepHostile:
			st.Hostile = Hostile(r.byte() % byte(numHostile))
			st.Other = r.intn(sc.Clients)
		case StepParallel:
			for range 2 + r.intn(maxGroup-1) {
				st.Group = append(st.Group, PKind(r.byte()%byte(numPKinds)))
			}
		}
		sc.Steps = append(sc.Steps, st)
	}
	sc.Order = r.b
	return sc
}

func (sc *Scenario) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "config %+v, %d clients\n", sc.Options, sc.Clients)
	for i, s := range sc.Steps {
		fmt.Fprintf(&b, "  %2d. %v\n", i, s)
	}
	return b.String()
}
