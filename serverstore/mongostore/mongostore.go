// Package mongostore is a serverstore.Backend on MongoDB, through the
// official driver (go.mongodb.org/mongo-driver/v2): the store of
// connect-mongo's users, and of any server that speaks MongoDB's wire
// protocol (MongoDB, Atlas, FerretDB, Amazon DocumentDB).
//
// # The documents
//
// spec/server-id-v1.md §4.1 and §4.4 are the normative form of what
// follows.
//
// A session is one document in a collection (DefaultCollection,
// crumbs_sessions, unless told otherwise), written whole: each write of a
// session inserts the next revision of its document, and then turns the
// revision it replaced into a stub (below). Its fields:
//
//	_id  string  the key, ".", and the revision in 16 hexadecimal digits
//	k    string  the key: the hash of the session ID, as in every
//	             serverstore backend
//	r    int64   the revision: 1 for a new session, one more per write
//	m    binary  the record's header (spec/server-id-v1.md §4)
//	v    array   the values, each {n: the session key, b: binary}
//	x    date    when the record expires, enforced on every read
//	ttl  date    when the TTL index may remove the document: 2 minutes
//	             (the fence) after x, and never before the ttl of the
//	             revision it replaced
//	mv   string  only in the tombstone of a retired ID: the key it moved to
//	end  bool    only in the mark a Destroy leaves (the key is absent), and
//	             in stubs
//	wt   string  the random mark of the write that made the revision
//	usr  string  the user a bound session belongs to (package devices)
//	bd   binary  its binding (spec/server-id-v1.md §7.1)
//	sn   int64   when it was last seen, Unix seconds
//
// A stub is a replaced revision reduced to _id, r, x, end, wt and a ttl 2
// minutes on: it keeps its _id taken (see "Why revisions"), and has no k,
// so no find of the session reads it. So a session written 100 times a
// minute has some 200 small stubs beside its document at any time.
//
// The indexes: crumbs_key, on k and r (descending), by which every read
// finds a session's newest revision; crumbs_usr, on usr (sparse), by which
// the devices API lists a user's sessions; and crumbs_ttl, a TTL index on
// ttl. EnsureIndexes creates them; a configuration string does, unless
// told not to.
//
// # Why revisions
//
// Every write is an insert: the revision is in _id, and a second writer of
// the same revision fails on the unique _id. So a write is a
// compare-and-set on the whole session, on any server whose inserts check
// _id (all of them), without relying on the atomicity of updates with a
// filter (FerretDB 1.x reads, then writes, an update's document: two
// parallel updates of one document lose one of them). A write that loses
// the race reads the session again and applies its own changes to what it
// finds: parallel requests that change different keys of one session both
// land, and session.Update's compare-and-set compares with the newest
// value.
//
// A revision's _id is taken only while its document exists: were the
// replaced revision deleted, a writer that read the one before it, and
// was overtaken by two writes, would insert the deleted revision again,
// and its write would vanish under the newest. So nothing is removed
// before it has been dead (replaced, ended or expired) for the fence, 2
// minutes, and a write whose insert lands more than the fence after its
// read is withdrawn (made a stub, which later writes skip) and reported
// failed; one that is half the fence late before it inserts reads again.
// The fence is measured on the client's clock and the TTL index removes
// by the server's: keep them within seconds of each other (NTP).
//
// What remains: a write held in flight for over half the fence, whose
// insert lands after its session was destroyed and every document of it
// removed, is readable from its insert until its withdrawal (one round
// trip): a request that reads it then, through the old cookie, and saves,
// brings the session back. And on a server without TTL indexes, whose
// deletes by query read the documents, then delete them by _id (FerretDB
// 1.x), the sweep takes only what passed its ttl a fence ago, so that it
// never falls between a writer's read of a dead revision and the update
// that holds it, unless that update is held in flight for half the fence.
//
// # Deadlines
//
// Every read checks x itself, on the client's clock: a record whose x has
// passed is absent, whether or not the server has removed it yet (MongoDB
// removes expired documents once a minute; FerretDB 1.x has no TTL
// indexes, and the sweep of WithSweep removes them instead).
//
// # Operations and their cost
//
//	Load (Get)           one find of the newest revision (crumbs_key)
//	new session (Create) that find, then one insert
//	save (Apply)         that find, one insert, one update (the stub)
//	Regenerate (Retire)  that find, the insert of a tombstone, one update
//	Destroy (Delete)     that find, the insert of an end mark, one update
//
// So a request that reads its session costs one find, and one that
// changes it three requests in a row: the find, the insert and the update.
// A write that loses a race costs one find and one insert more, per race
// lost; one after an expired or ended revision, one update more (which
// holds that revision for the fence). Writes need an acknowledged write
// concern: Open refuses w=0, and a Backend on a collection with w=0
// reports every write failed.
//
// # Configuration strings
//
// Importing the package registers the "mongodb" and "mongodb+srv" schemes
// for session.OpenStore:
//
//	mongodb://127.0.0.1:27017/app
//	mongodb+srv://user:password@cluster0.example.mongodb.net/app?w=majority
//
// The database is the path (DefaultDatabase, crumbs, when empty); every
// parameter that does not start with crumbs_ goes to the driver (see its
// connection string options). crumbs' own:
//
//	crumbs_collection=sessions  the collection (DefaultCollection)
//	crumbs_create=false         do not create the indexes (EnsureIndexes):
//	                            for a user without the createIndex action
//	crumbs_sweep=10m            remove expired documents every 10 minutes
//	                            (WithSweep): for a server without TTL indexes
//	crumbs_raw_ids=true         serverstore.WithRawIDs
//	crumbs_client_details=true  serverstore.WithClientDetails
//	crumbs_grace=10s            serverstore.WithGrace
//	crumbs_open_timeout=2s      how long OpenStore waits for the server
//	                            (OpenTimeout, 5 s)
//
// Any other crumbs_ parameter is an error that names it.
//
// # connect-mongo
//
// What connect-mongo's options become:
//
//	mongoUrl, client, dbName   the configuration string, or New with a
//	                           *mongo.Collection of a client of your own
//	collectionName             crumbs_collection, or that collection
//	ttl                        session.WithIdleTimeout, session.WithLifetime
//	autoRemove: 'native'       the TTL index (the default)
//	autoRemove: 'interval'     crumbs_sweep, WithSweep
//	autoRemove: 'disabled'     crumbs_create=false, and no sweep
//	touchAfter                 built in: a session read but not changed is
//	                           written only when less than half of its idle
//	                           timeout is left (session.WithIdleTimeout)
//	stringify, serialize       session.WithCodec (each value is stored
//	                           apart, in the codec's form)
//	crypto                     not needed for the cookie, which holds only a
//	                           signed ID; the values are stored as they are
//
// Sessions are not shared with connect-mongo: its documents hold the
// session as one JSON object under the raw session ID.
package mongostore

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"iter"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/mongo/readpref"

	"github.com/crumbs-go/session/driver"
	"github.com/crumbs-go/session/internal/params"
	"github.com/crumbs-go/session/internal/storeparams"
	"github.com/crumbs-go/session/serverstore"
)

// DefaultDatabase and DefaultCollection are where a configuration string
// without a database or a crumbs_collection keeps the sessions.
const (
	DefaultDatabase   = "crumbs"
	DefaultCollection = "crumbs_sessions"
)

// The indexes EnsureIndexes creates.
const (
	KeyIndex  = "crumbs_key"
	UserIndex = "crumbs_usr"
	TTLIndex  = "crumbs_ttl"
)

// The field names.
const (
	fKey      = "k"
	fRevision = "r"
	fMeta     = "m"
	fValues   = "v"
	fExpires  = "x"
	fTTL      = "ttl"
	fMoved    = "mv"
	fEnd      = "end"
	fToken    = "wt"
	fUser     = "usr"
	fBinding  = "bd"
)

// fence is how long, at least, the document of a dead revision (replaced,
// ended or expired) stays: a writer whose insert lands within fence of its
// read knows that it wrote after the newest revision (see put).
const fence = 2 * time.Minute

// maxAttempts bounds the writes one call makes when other writers keep
// winning the race for the next revision: each lost race means another
// write landed, so only a session under that many parallel writers meets
// it.
const maxAttempts = 256

// Backend stores sessions in a MongoDB collection. It is safe for
// concurrent use.
type Backend struct {
	coll *mongo.Collection
	now  func() time.Time

	sweep  time.Duration      // WithSweep's interval; 0 for none
	cancel context.CancelFunc // ends the sweep, if any
	done   chan struct{}
	once   sync.Once
}

// An Option configures a Backend.
type Option func(*Backend) error

// WithSweep removes the expired documents every d (at least a second), in
// the Backend's own goroutine until Close: for a server that has no TTL
// indexes (FerretDB 1.x), as connect-mongo's autoRemove: 'interval'.
// MongoDB itself needs none: its TTL index removes them.
func WithSweep(d time.Duration) Option {
	return func(b *Backend) error {
		if d < time.Second {
			return fmt.Errorf("mongostore: WithSweep(%v): give a second or more", d)
		}
		b.sweep = d
		return nil
	}
}

// WithClock makes the Backend read the time from now instead of
// time.Now: the deadlines it enforces on read, and the ttl it writes. For
// tests that move time instead of waiting, such as how long a write takes
// (see fence).
func WithClock(now func() time.Time) Option {
	return func(b *Backend) error {
		if now == nil {
			return errors.New("mongostore: WithClock(nil): give a clock")
		}
		b.now = now
		return nil
	}
}

// New returns a Backend on coll, whose client the caller owns (Close does
// not disconnect it). It makes no request: EnsureIndexes creates the
// indexes, Ping checks the server. Reads go to the primary whatever coll's
// read preference: a session must read what the request before it wrote.
func New(coll *mongo.Collection, opts ...Option) (*Backend, error) {
	if coll == nil {
		return nil, errors.New("mongostore: New(nil): give the collection, client.Database(…).Collection(…)")
	}
	b := &Backend{coll: coll.Clone(options.Collection().SetReadPreference(readpref.Primary())), now: time.Now}
	for _, o := range opts {
		if err := o(b); err != nil {
			return nil, err
		}
	}
	if b.sweep > 0 {
		ctx, cancel := context.WithCancel(context.Background())
		b.cancel, b.done = cancel, make(chan struct{})
		go b.sweepEvery(ctx, b.sweep)
	}
	return b, nil
}

// Collection returns the Backend's collection.
func (b *Backend) Collection() *mongo.Collection { return b.coll }

// ContextBound reports true: the driver ends a request at its context's
// deadline.
func (b *Backend) ContextBound() bool { return true }

// Ping checks that the server answers (a ping command to the collection's
// database).
func (b *Backend) Ping(ctx context.Context) error {
	if err := b.coll.Database().RunCommand(ctx, bson.D{{Key: "ping", Value: 1}}).Err(); err != nil {
		return fmt.Errorf("mongostore: ping: %w", err)
	}
	return nil
}

// Close stops the sweep, if any. It leaves the client connected: the
// caller owns it (a Backend from a configuration string disconnects the
// client it made: see Open).
func (b *Backend) Close() error {
	b.once.Do(func() {
		if b.cancel != nil {
			b.cancel() // a sweep under way ends too
			<-b.done
		}
	})
	return nil
}

// EnsureIndexes creates the collection's indexes, crumbs_key, crumbs_usr
// and the TTL index crumbs_ttl; creating an index that exists already does
// nothing. A server that refuses TTL indexes (FerretDB 1.x) gets the others, and an
// error wrapping errors.ErrUnsupported that says expired documents then
// stay until removed (WithSweep removes them).
//
// The same in mongosh:
//
//	db.crumbs_sessions.createIndex({k: 1, r: -1}, {name: "crumbs_key"})
//	db.crumbs_sessions.createIndex({usr: 1}, {name: "crumbs_usr", sparse: true})
//	db.crumbs_sessions.createIndex({ttl: 1}, {name: "crumbs_ttl", expireAfterSeconds: 0})
func EnsureIndexes(ctx context.Context, coll *mongo.Collection) error {
	_, err := coll.Indexes().CreateOne(ctx, mongo.IndexModel{
		Keys:    bson.D{{Key: fKey, Value: 1}, {Key: fRevision, Value: -1}},
		Options: options.Index().SetName(KeyIndex),
	})
	if err != nil {
		return fmt.Errorf("mongostore: create index %s: %w", KeyIndex, err)
	}
	_, err = coll.Indexes().CreateOne(ctx, mongo.IndexModel{
		Keys:    bson.D{{Key: fUser, Value: 1}},
		Options: options.Index().SetName(UserIndex).SetSparse(true),
	})
	if err != nil {
		return fmt.Errorf("mongostore: create index %s: %w", UserIndex, err)
	}
	_, err = coll.Indexes().CreateOne(ctx, mongo.IndexModel{
		Keys:    bson.D{{Key: fTTL, Value: 1}},
		Options: options.Index().SetName(TTLIndex).SetExpireAfterSeconds(0),
	})
	var ce mongo.CommandError
	if errors.As(err, &ce) && (ce.Code == 238 || ce.Name == "NotImplemented") {
		return fmt.Errorf("mongostore: the server has no TTL indexes (%s): expired sessions are absent to every read, but their documents stay until removed: give WithSweep (crumbs_sweep=10m): %w", ce.Message, errors.ErrUnsupported)
	}
	if err != nil {
		return fmt.Errorf("mongostore: create index %s: %w", TTLIndex, err)
	}
	return nil
}

// OpenTimeout bounds how long OpenStore waits for the server to answer a
// configuration string (the ping and the indexes), unless the string sets
// crumbs_open_timeout or the context has an earlier deadline.
const OpenTimeout = 5 * time.Second

// opened is a Backend from a configuration string: Close also disconnects
// the client Open made.
type opened struct {
	*Backend
	client *mongo.Client
	closed sync.Once
}

// Close stops the sweep and disconnects the client; a second Close does
// nothing.
func (o *opened) Close() error {
	var err error
	o.closed.Do(func() {
		o.Backend.Close()
		ctx, cancel := context.WithTimeout(context.Background(), OpenTimeout)
		defer cancel()
		err = o.client.Disconnect(ctx)
	})
	return err
}

// Open builds a Backend from a configuration string (the forms are in the
// package documentation): it connects a client of its own, which the
// Backend's Close disconnects, checks that the server answers within
// OpenTimeout and creates the indexes. The serverstore options it returns
// are the ones the string set.
func Open(ctx context.Context, cfg string) (serverstore.Backend, []serverstore.Option, error) {
	const pkg = "mongostore"
	u, err := params.Parse(pkg, cfg)
	if err != nil {
		return nil, nil, err
	}
	if u.Scheme != "mongodb" && u.Scheme != "mongodb+srv" {
		return nil, nil, fmt.Errorf("mongostore: the scheme %q: give mongodb:// or mongodb+srv://", u.Scheme)
	}
	if u.Host == "" {
		return nil, nil, errors.New("mongostore: no host: give mongodb://HOST[:PORT][,HOST…]/DATABASE, or mongodb+srv://HOST/DATABASE")
	}
	db := strings.TrimPrefix(u.Path, "/")
	if db == "" {
		db = DefaultDatabase
	}
	if strings.ContainsAny(db, "/\\. \"$") {
		return nil, nil, fmt.Errorf("mongostore: the database %q: a name without '/', '\\', '.', ' ', '\"' or '$'", db)
	}
	q := u.Query()
	var sopts []serverstore.Option
	var bopts []Option
	coll, create, timeout := DefaultCollection, true, OpenTimeout
	err = params.Each(pkg, q, params.Crumbs, func(name, v string) error {
		if opt, ok, err := storeparams.Server(pkg, name, v); ok {
			if opt != nil {
				sopts = append(sopts, opt)
			}
			return err
		}
		var err error
		switch name {
		case "crumbs_collection":
			if v == "" || strings.HasPrefix(v, "system.") || strings.ContainsAny(v, "$\x00") {
				err = params.Bad(pkg, name, v, "a collection name, without '$', not starting with system.")
			}
			coll = v
		case "crumbs_create":
			create, err = params.Bool(pkg, name, v)
		case "crumbs_sweep":
			var d time.Duration
			if d, err = params.Duration(pkg, name, v, time.Second); err == nil {
				bopts = append(bopts, WithSweep(d))
			}
		case "crumbs_open_timeout":
			timeout, err = params.Duration(pkg, name, v, time.Millisecond)
		default:
			err = fmt.Errorf("mongostore: unknown parameter %s (crumbs' own are crumbs_collection, crumbs_create, crumbs_sweep, crumbs_raw_ids, crumbs_client_details, crumbs_grace, crumbs_open_timeout)", name)
		}
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	u.RawQuery = q.Encode()
	copts := options.Client().ApplyURI(u.String())
	refused := func(err error) error {
		var dns *net.DNSError
		if u.Scheme == "mongodb+srv" && errors.As(err, &dns) {
			return fmt.Errorf("mongostore: the SRV record of %s: %w", u.Hostname(), dns)
		}
		if _, secret := u.User.Password(); secret || strings.Contains(strings.ToLower(u.RawQuery), "password") {
			// The driver's message may quote the string: say only that.
			return errors.New("mongostore: the driver refuses the configuration string (see its connection string options; crumbs' own start with crumbs_)")
		}
		return fmt.Errorf("mongostore: the driver refuses the configuration string: %w", err)
	}
	if err := copts.Validate(); err != nil {
		return nil, nil, refused(err)
	}
	if copts.WriteConcern != nil && !copts.WriteConcern.Acknowledged() {
		return nil, nil, errors.New("mongostore: w=0: sessions need acknowledged writes; give w=1 or w=majority, or leave w out")
	}
	client, err := mongo.Connect(copts)
	if err != nil {
		return nil, nil, refused(err)
	}
	fail := func(err error) (serverstore.Backend, []serverstore.Option, error) {
		client.Disconnect(context.Background())
		return nil, nil, err
	}
	b, err := New(client.Database(db).Collection(coll), bopts...)
	if err != nil {
		return fail(err)
	}
	octx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := b.Ping(octx); err != nil {
		b.Close()
		if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
			return fail(fmt.Errorf("mongostore: the server at %s did not answer within %v", params.Redact(u), timeout))
		}
		return fail(fmt.Errorf("mongostore: the server at %s: %w", params.Redact(u), err))
	}
	if create {
		err := EnsureIndexes(octx, b.coll)
		switch {
		case errors.Is(err, errors.ErrUnsupported):
			if b.sweep == 0 {
				slog.Warn(err.Error())
			}
		case err != nil:
			b.Close()
			return fail(fmt.Errorf("%w (give crumbs_create=false to open the collection without creating its indexes)", err))
		}
	}
	return &opened{Backend: b, client: client}, sopts, nil
}

func init() {
	open := func(ctx context.Context, cfg string, secrets [][]byte) (driver.Store, error) {
		b, sopts, err := Open(ctx, cfg)
		if err != nil {
			return nil, err
		}
		s, err := serverstore.New(b, secrets, sopts...)
		if err != nil {
			b.(*opened).Close()
			return nil, err
		}
		return s, nil
	}
	driver.Register("mongodb", open)
	driver.Register("mongodb+srv", open)
}

// doc is one revision of a session's document.
type doc struct {
	ID       string    `bson:"_id"`
	Key      string    `bson:"k"`
	Revision int64     `bson:"r"`
	Meta     []byte    `bson:"m,omitempty"`
	Values   []value   `bson:"v,omitempty"`
	Expires  time.Time `bson:"x"`
	TTL      time.Time `bson:"ttl"`
	Moved    string    `bson:"mv,omitempty"`
	End      bool      `bson:"end,omitempty"`
	Token    string    `bson:"wt"`
	User     string    `bson:"usr,omitempty"`
	Binding  []byte    `bson:"bd,omitempty"`
	Seen     int64     `bson:"sn,omitempty"`
}

type value struct {
	Name  string `bson:"n"`
	Bytes []byte `bson:"b"`
}

func id(key string, rev int64) string { return fmt.Sprintf("%s.%016x", key, uint64(rev)) }

func newToken() string {
	var b [12]byte
	crand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// live reports whether d is a session or a tombstone that has not expired.
func (d *doc) live(now time.Time) bool {
	return d != nil && !d.End && now.Before(d.Expires)
}

// entry decodes a live document. A tombstone gives ErrMoved with its
// successor.
func (d *doc) entry() (*serverstore.Entry, error) {
	if d.Moved != "" {
		return &serverstore.Entry{Successor: d.Moved}, serverstore.ErrMoved
	}
	if len(d.Meta) < metaSize {
		return nil, fmt.Errorf("mongostore: malformed document %q: a header of %d bytes", d.ID, len(d.Meta))
	}
	e := &serverstore.Entry{Meta: d.Meta, Values: make(map[string][]byte, len(d.Values))}
	for _, v := range d.Values {
		e.Values[v.Name] = v.Bytes
	}
	e.Binding = d.binding()
	return e, nil
}

// binding decodes d's binding; nil for none or a malformed one.
func (d *doc) binding() *serverstore.Binding {
	if d.User == "" || len(d.Binding) == 0 {
		return nil
	}
	bd, err := serverstore.DecodeBinding(d.Binding, uint64(max(d.Seen, 0)))
	if err != nil || bd.User != d.User {
		return nil
	}
	return bd
}

// bind binds d to bd.
func (d *doc) bind(bd *serverstore.Binding) {
	if bd != nil && bd.User != "" {
		d.User, d.Binding, d.Seen = bd.User, serverstore.EncodeBinding(bd), bd.Seen.Unix()
	}
}

// metaSize is the fixed part of a header (spec/server-id-v1.md §4.1).
const metaSize = 1 + 1 + 8 + 8

// newest reads key's newest revision; nil when it has none.
func (b *Backend) newest(ctx context.Context, key string) (*doc, error) {
	var d doc
	err := b.coll.FindOne(ctx, bson.D{{Key: fKey, Value: key}},
		options.FindOne().SetSort(bson.D{{Key: fRevision, Value: -1}})).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &d, nil
}

// put inserts next as the revision after prev (nil: none), which a find
// begun at read (on the Backend's clock: by default time.Now, whose
// monotonic reading measures the time since) returned, and then turns
// prev into a stub. It reports false when another write took that
// revision first.
//
// A revision's _id stops a second writer of it for as long as the
// revision's document exists, and the document of a revision stays for
// fence at least after it died (replaced, ended or expired): a writer
// whose insert lands within fence of its read therefore wrote after the
// newest revision, not after one that was overtaken and removed since. A
// revision read dead gets fence more before anything is written after it.
// A slower write is reported failed, its revision made a stub.
func (b *Backend) put(ctx context.Context, read time.Time, prev, in *doc) (bool, error) {
	next := *in // in is the caller's, for its next attempt
	next.Revision = 1
	next.Expires = ceilMilli(next.Expires) // BSON dates hold milliseconds
	next.TTL = ceilMilli(next.TTL).Add(fence)
	if prev != nil {
		next.Revision = prev.Revision + 1
		// Never removed before a revision it replaced, which a failed
		// stub write may have left whole.
		if prev.TTL.After(next.TTL) {
			next.TTL = prev.TTL
		}
		if until := b.now().Add(fence); prev.TTL.Before(until) {
			// Dead: held for the fence first. A sweep takes only what
			// has been past its ttl for the fence, and a hold that lands
			// within half of it is sure to come before such a sweep.
			res, err := b.coll.UpdateOne(ctx, bson.D{{Key: "_id", Value: prev.ID}, {Key: fToken, Value: prev.Token}},
				bson.D{{Key: "$max", Value: bson.D{{Key: fTTL, Value: until}}}})
			if err != nil {
				return false, err
			}
			if res.MatchedCount == 0 || b.now().Sub(read) >= fence/2 {
				return false, nil // removed, or maybe: read again
			}
		}
	}
	next.Token = newToken()
	for range maxAttempts {
		if b.now().Sub(read) >= fence/2 {
			return false, nil // too late to be sure of the read: read again
		}
		next.ID = id(next.Key, next.Revision)
		res, err := b.coll.InsertOne(ctx, &next)
		if mongo.IsDuplicateKeyError(err) {
			// Taken by another write (not by this one sent again: the
			// driver resends a write only to a replica set or a sharded
			// cluster, which recognises the resend and answers as to the
			// first), or by the stub of a withdrawn write, which the
			// next revision skips.
			var holder doc
			err := b.coll.FindOne(ctx, bson.D{{Key: "_id", Value: next.ID}}).Decode(&holder)
			if errors.Is(err, mongo.ErrNoDocuments) {
				return false, nil
			}
			if err != nil {
				return false, err
			}
			if holder.Key != "" {
				return false, nil // a revision of the session: read again
			}
			next.Revision++
			continue
		}
		if err != nil {
			return false, err
		}
		if !res.Acknowledged {
			return false, errUnacknowledged
		}
		break
	}
	if b.now().Sub(read) >= fence {
		// Written after the newest revision, or after one overtaken and
		// removed: nothing tells which. Made a stub, the revision never
		// reads again; the write is reported failed (unless a request
		// read the revision meanwhile, and wrote after it).
		wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if err := b.stub(wctx, next.ID); err != nil {
			return false, fmt.Errorf("the write of %q took %v or more, and withdrawing it failed (it may stand): %w", next.Key, fence, err)
		}
		return false, fmt.Errorf("the write of %q took %v or more: it is withdrawn, unless a request read it meanwhile", next.Key, fence)
	}
	if prev != nil {
		b.stub(ctx, prev.ID)
	}
	return true, nil
}

// stub makes the revision id a stub: its _id, dead, without k (finds of
// the session never read it again), for fence more. Whatever a failed
// request leaves, the TTL index removes; reads take the newest revision.
func (b *Backend) stub(ctx context.Context, id string) error {
	_, err := b.coll.UpdateOne(ctx, bson.D{{Key: "_id", Value: id}}, bson.D{
		{Key: "$set", Value: bson.D{{Key: fEnd, Value: true}, {Key: fTTL, Value: b.now().Add(fence)}}},
		{Key: "$unset", Value: bson.D{{Key: fKey, Value: ""}, {Key: fMeta, Value: ""}, {Key: fValues, Value: ""},
			{Key: fMoved, Value: ""}, {Key: fUser, Value: ""}, {Key: fBinding, Value: ""}}},
	})
	return err
}

var errUnacknowledged = errors.New("the collection's write concern is unacknowledged (w=0): a write could not be checked; give w=1 or w=majority")

// ceilMilli rounds t up to a millisecond.
func ceilMilli(t time.Time) time.Time {
	if c := t.Truncate(time.Millisecond); c.Before(t) {
		return c.Add(time.Millisecond)
	}
	return t
}

// Get reads a live record: one find.
func (b *Backend) Get(ctx context.Context, key string) (*serverstore.Entry, error) {
	d, err := b.newest(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("mongostore: get: %w", err)
	}
	if !d.live(b.now()) {
		return nil, serverstore.ErrNotFound
	}
	return d.entry()
}

// Create inserts a new session, unless a live record or tombstone holds
// key: a find, then an insert.
func (b *Backend) Create(ctx context.Context, key string, e *serverstore.Entry, expires time.Time) error {
	if len(e.Meta) < metaSize {
		return fmt.Errorf("mongostore: create: a header of %d bytes, under %d", len(e.Meta), metaSize)
	}
	next := &doc{Key: key, Meta: e.Meta, Expires: expires, TTL: expires, Values: make([]value, 0, len(e.Values))}
	for k, v := range e.Values {
		next.Values = append(next.Values, value{k, v})
	}
	next.bind(e.Binding)
	for range maxAttempts {
		read := b.now()
		cur, err := b.newest(ctx, key)
		if err != nil {
			return fmt.Errorf("mongostore: create: %w", err)
		}
		if cur.live(b.now()) && (e.Replaces == "" || cur.Moved != e.Replaces) {
			return serverstore.ErrExists
		}
		ok, err := b.put(ctx, read, cur, next)
		if err != nil {
			return fmt.Errorf("mongostore: create: %w", err)
		}
		if ok {
			return nil
		}
	}
	return fmt.Errorf("mongostore: create: %d writes of %q came first", maxAttempts, key)
}

// Apply writes what a request changed: it reads the newest revision,
// applies w to it as the memory backend would, and inserts the result as
// the next revision; again from the read when another write took it first.
func (b *Backend) Apply(ctx context.Context, key string, w *serverstore.Write) ([]byte, error) {
	for range maxAttempts {
		read := b.now()
		cur, err := b.newest(ctx, key)
		if err != nil {
			return nil, fmt.Errorf("mongostore: apply: %w", err)
		}
		if !cur.live(b.now()) {
			return nil, serverstore.ErrNotFound
		}
		e, err := cur.entry()
		if err != nil {
			return nil, err
		}
		if w.Convert {
			return nil, serverstore.ErrConverted // never holds format-1 records
		}
		if conflict := check(e.Values, w.Changes); conflict != nil {
			return nil, conflict
		}
		meta, expires := serverstore.MergeHeader(e.Meta, w)
		if w.Clear {
			clear(e.Values)
		}
		for _, c := range w.Changes {
			if c.Delete {
				delete(e.Values, c.Key)
			} else {
				e.Values[c.Key] = c.Value
			}
		}
		next := &doc{Key: key, Meta: meta, Expires: expires, TTL: expires, Values: make([]value, 0, len(e.Values))}
		for k, v := range e.Values {
			next.Values = append(next.Values, value{k, v})
		}
		next.User, next.Binding, next.Seen = cur.User, cur.Binding, cur.Seen
		if next.User == "" {
			next.bind(w.Binding) // a session bound after it was created
		} else if w.User != "" && !w.Seen.IsZero() {
			next.Seen = w.Seen.Unix()
		}
		if w.Until.After(next.TTL) {
			next.TTL = w.Until
		}
		ok, err := b.put(ctx, read, cur, next)
		if err != nil {
			return nil, fmt.Errorf("mongostore: apply: %w", err)
		}
		if ok {
			return meta, nil
		}
	}
	return nil, fmt.Errorf("mongostore: apply: %d writes of %q came first", maxAttempts, key)
}

// check returns the conflict of the checked changes with values; nil when
// every checked key holds what the writer read.
func check(values map[string][]byte, changes []driver.Change) *driver.ConflictError {
	for _, c := range changes {
		if !c.Check {
			continue
		}
		cur, ok := values[c.Key]
		if ok != c.HadOld || ok && string(cur) != string(c.Old) {
			conflict := &driver.ConflictError{Values: map[string][]byte{}}
			for _, c := range changes {
				if cur, ok := values[c.Key]; c.Check && ok {
					conflict.Values[c.Key] = cur
				}
			}
			return conflict
		}
	}
	return nil
}

// Retire replaces the record by a tombstone and returns what it held: a
// find, the insert of the tombstone and a delete.
func (b *Backend) Retire(ctx context.Context, key, successor string, until time.Time) (*serverstore.Entry, error) {
	for range maxAttempts {
		read := b.now()
		cur, err := b.newest(ctx, key)
		if err != nil {
			return nil, fmt.Errorf("mongostore: retire: %w", err)
		}
		if !cur.live(b.now()) {
			return nil, serverstore.ErrNotFound
		}
		e, err := cur.entry()
		if err != nil {
			return e, err // a tombstone: ErrMoved and its successor
		}
		ok, err := b.put(ctx, read, cur, &doc{Key: key, Moved: successor, Expires: until, TTL: until})
		if err != nil {
			return nil, fmt.Errorf("mongostore: retire: %w", err)
		}
		if ok {
			return e, nil
		}
	}
	return nil, fmt.Errorf("mongostore: retire: %d writes of %q came first", maxAttempts, key)
}

// Delete ends key, record or tombstone, and returns the successor a
// tombstone named: a find, then the insert of an end mark (a write that
// read the session before it finds its revision taken, reads again and
// finds the session absent) and the delete of what it replaces.
func (b *Backend) Delete(ctx context.Context, key string) (string, error) {
	for range maxAttempts {
		read := b.now()
		cur, err := b.newest(ctx, key)
		if err != nil {
			return "", fmt.Errorf("mongostore: delete: %w", err)
		}
		now := b.now()
		if cur == nil || cur.End {
			return "", nil
		}
		// An expired record gets its end mark too: a write that read it
		// live finds its revision taken.
		mark := &doc{Key: key, End: true, Expires: now, TTL: now}
		ok, err := b.put(ctx, read, cur, mark)
		if err != nil {
			return "", fmt.Errorf("mongostore: delete: %w", err)
		}
		if ok {
			if !cur.live(now) {
				return "", nil
			}
			return cur.Moved, nil
		}
	}
	return "", fmt.Errorf("mongostore: delete: %d writes of %q came first", maxAttempts, key)
}

// Bound returns the live records bound to user: a find of the user's
// documents (crumbs_usr), then a find of the newest revision of each.
func (b *Backend) Bound(ctx context.Context, user string) (map[string]*serverstore.Binding, error) {
	cur, err := b.coll.Find(ctx, bson.D{{Key: fUser, Value: user}}, options.Find().SetProjection(bson.D{{Key: fKey, Value: 1}}))
	if err != nil {
		return nil, fmt.Errorf("mongostore: list: %w", err)
	}
	defer cur.Close(ctx)
	keys := map[string]bool{}
	for cur.Next(ctx) {
		var d struct {
			Key string `bson:"k"`
		}
		if err := cur.Decode(&d); err != nil {
			return nil, fmt.Errorf("mongostore: list: %w", err)
		}
		keys[d.Key] = true
	}
	if err := cur.Err(); err != nil {
		return nil, fmt.Errorf("mongostore: list: %w", err)
	}
	out := map[string]*serverstore.Binding{}
	now := b.now()
	for k := range keys {
		// The newest revision decides: an older one of a session since
		// retired or ended may not be deleted yet.
		d, err := b.newest(ctx, k)
		if err != nil {
			return nil, fmt.Errorf("mongostore: list: %w", err)
		}
		if d.live(now) && d.Moved == "" && d.User == user {
			if bd := d.binding(); bd != nil {
				out[k] = bd
			}
		}
	}
	return out, nil
}

// newestOfEach yields the newest revision of every key in the collection.
func (b *Backend) newestOfEach(ctx context.Context) iter.Seq2[*doc, error] {
	return func(yield func(*doc, error) bool) {
		cur, err := b.coll.Find(ctx, bson.D{}, options.Find().SetProjection(bson.D{
			{Key: fKey, Value: 1}, {Key: fRevision, Value: 1}, {Key: fExpires, Value: 1},
			{Key: fMoved, Value: 1}, {Key: fEnd, Value: 1},
		}))
		if err != nil {
			yield(nil, err)
			return
		}
		defer cur.Close(ctx)
		newest := map[string]*doc{}
		for cur.Next(ctx) {
			var d doc
			if err := cur.Decode(&d); err != nil {
				yield(nil, err)
				return
			}
			if n := newest[d.Key]; n == nil || n.Revision < d.Revision {
				newest[d.Key] = &d
			}
		}
		if err := cur.Err(); err != nil {
			yield(nil, err)
			return
		}
		for _, d := range newest {
			if !yield(d, nil) {
				return
			}
		}
	}
}

// Keys yields the keys of the live records: a find of the whole
// collection (for tools, not requests).
func (b *Backend) Keys(ctx context.Context) iter.Seq2[string, error] {
	return func(yield func(string, error) bool) {
		now := b.now()
		for d, err := range b.newestOfEach(ctx) {
			if err != nil {
				yield("", fmt.Errorf("mongostore: keys: %w", err))
				return
			}
			if d.live(now) && d.Moved == "" && !yield(d.Key, nil) {
				return
			}
		}
	}
}

// Count counts the live records: a find of the whole collection.
func (b *Backend) Count(ctx context.Context) (int, error) {
	n := 0
	for _, err := range b.Keys(ctx) {
		if err != nil {
			return 0, err
		}
		n++
	}
	return n, nil
}

// Clear ends every session of the collection, as Delete does (a find of
// the whole collection, then Delete's requests per session): a request
// that read a session before finds it ended, as with a Destroy. The end
// marks and stubs go as the TTL index (or the sweep) removes them. To
// empty the collection at once, with no request in flight, drop it.
func (b *Backend) Clear(ctx context.Context) error {
	var keys []string
	for d, err := range b.newestOfEach(ctx) {
		if err != nil {
			return fmt.Errorf("mongostore: clear: %w", err)
		}
		if !d.End {
			keys = append(keys, d.Key)
		}
	}
	for _, k := range keys {
		if _, err := b.Delete(ctx, k); err != nil {
			return fmt.Errorf("mongostore: clear: %w", err)
		}
	}
	return nil
}

// Sweep deletes the documents whose ttl passed a fence ago or more, as a
// TTL index does (a fence later: a server without TTL indexes deletes a
// query's documents in a second step, which a hold of one of them
// (see put) must not fall between): for a server without TTL indexes
// (WithSweep calls it on a timer). It returns how many it deleted.
func (b *Backend) Sweep(ctx context.Context) (int, error) {
	res, err := b.coll.DeleteMany(ctx, bson.D{{Key: fTTL, Value: bson.D{{Key: "$lt", Value: b.now().Add(-fence)}}}})
	if err != nil {
		return 0, fmt.Errorf("mongostore: sweep: %w", err)
	}
	return int(res.DeletedCount), nil
}

func (b *Backend) sweepEvery(ctx context.Context, d time.Duration) {
	defer close(b.done)
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			sctx, cancel := context.WithTimeout(ctx, d)
			if _, err := b.Sweep(sctx); err != nil && ctx.Err() == nil {
				slog.Warn(err.Error())
			}
			cancel()
		}
	}
}
