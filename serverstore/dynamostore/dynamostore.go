// Package dynamostore is a serverstore.Backend on Amazon DynamoDB, through
// the AWS SDK for Go v2: the shared session store of serverless functions.
//
// # The table
//
// One item per session, under the partition key k (a string: the hash of
// the session ID, as in every serverstore backend). Its attributes:
//
//	k    S  the key
//	hd   B  the record's format and flags bytes, then its cookie attributes
//	ab   N  the absolute deadline, Unix seconds (0: none)
//	id   B  the idle deadline, as the record's header holds it (8 bytes)
//	v    M  the values: one member per session key ("_" and the key), each a B
//	ex   N  when the record expires, Unix milliseconds
//	ttl  N  the same, in Unix seconds rounded up: DynamoDB's TTL attribute
//	rv   N  a revision: every write makes it larger
//	wt   S  the random mark of the last write
//	mv   S  only in the tombstone of a retired ID: the key it moved to
//	usr  S  the user a bound session belongs to (package devices)
//	bd   B  its binding (spec/server-id-v1.md §7.1)
//	sn   N  when it was last seen, Unix seconds
//
// and a global secondary index, crumbs_usr, on usr and k (projecting bd,
// sn, ex and ab), through which the devices API lists a user's sessions. CreateTable
// makes the table (on-demand capacity) with its index and turns TTL on; the
// package documentation of CreateTable gives the same in CloudFormation.
//
// # Deadlines
//
// DynamoDB deletes an item after its TTL passes, lazily: hours later, at
// times. Every read therefore checks the deadlines itself, on the client's
// clock (NTP-synchronised, on Lambda and EC2): an item whose ex has passed,
// or whose absolute deadline ab has, is absent to Get, Apply, Retire and
// Create alike, whether or not DynamoDB has deleted it yet. A write that
// refreshes only the idle deadline leaves ab as stored (a parallel
// request's SetLifetime stands), so ttl may then lie past ab: DynamoDB
// deletes such an item at its idle deadline instead, while reads end it at
// ab.
//
// # Operations and their cost
//
// Each operation is one request, atomic on its own item, with a condition
// expression in place of a lock:
//
//	Load (Get)           GetItem, strongly consistent: 1 RCU per 4 KB of item
//	new session (Create) PutItem if no live item is there: 1 WCU per 1 KB
//	save (Apply)         UpdateItem: SET and REMOVE of the changed members of
//	                     v only, the idle deadline, ex and ttl; its condition
//	                     is that the item is live and not a tombstone, and
//	                     that each key session.Update read still holds what it
//	                     read: 1 WCU per 1 KB of the larger of the item before
//	                     and after
//	Regenerate (Retire)  UpdateItem that leaves a tombstone: 1 WCU per 1 KB
//	Destroy (Delete)     GetItem, strongly consistent, then DeleteItem
//
// So a request that reads its session costs one strongly consistent read
// (1 RCU for a session of up to 4 KB), and one that changes it that read
// and a write (1 WCU per KB); on-demand pricing in us-east-1 at the time
// of writing is $0.125 per million read units and $0.625 per million
// write units. A session bound to a user (package devices) is also in the
// crumbs_usr index, and every write of it writes the index too: one more
// write unit per write (its entry is small). A write that finds its
// condition false consumes the write all the same, and is followed by one
// strongly consistent GetItem that tells why (the record expired, moved,
// an Update lost a race, or the SDK sent the write again after a lost
// reply: each write carries a random mark, wt, by which it knows its own;
// only when another request's write lands between a lost reply and its
// resend does the resend read as a conflict, and session.Update runs its
// function again).
//
// Reads are strongly consistent where correctness needs them: every Get,
// and the read that explains a failed condition. The listing of a user's
// sessions (devices.Sessions, End, EndAll) queries the crumbs_usr index,
// which DynamoDB updates asynchronously (within a second, typically): a
// session created in that last moment may be missing from a listing, and
// so survive an EndAll that ran in it; an ID rotated in it may be listed
// beside its successor (EndAll keeps the session it is told to keep all
// the same). Count and Keys scan the table
// (eventually consistent, 0.5 RCU per 4 KB read): for tools, not requests.
//
// Parallel requests that change different keys of one session never
// conflict: each UpdateItem names only its own members. An UpdateItem is
// bounded by DynamoDB's limits on expressions (4 KB); a save of more
// changes than fit falls back to a read (strongly consistent) and a
// PutItem conditional on the revision attribute rv that every write
// increments, repeated if another write came in between. An item is at
// most 400 KB, DynamoDB's limit: a larger session fails to save, and the
// failure reaches the error handler.
//
// # Configuration strings
//
// Importing the package registers the "dynamodb" scheme for
// session.OpenStore:
//
//	dynamodb://TABLE?region=eu-west-1
//	dynamodb://crumbs_sessions?region=us-east-1&endpoint=http://127.0.0.1:8000
//
// The table is the host (DefaultTable, crumbs_sessions, when empty).
// region and endpoint go to the SDK; credentials come from the SDK's
// default chain (the environment, the shared files, the Lambda or EC2
// role), never from the string. crumbs' own parameters:
//
//	crumbs_create=true     create the table if it is absent (CreateTable);
//	                       off by default: a function's role seldom may
//	crumbs_raw_ids=true    serverstore.WithRawIDs
//	crumbs_client_details=true serverstore.WithClientDetails
//	crumbs_grace=10s       serverstore.WithGrace
//	crumbs_open_timeout=2s how long OpenStore waits for DynamoDB (OpenTimeout, 5 s)
//
// Any other parameter is an error that names it.
package dynamostore

import (
	"context"
	crand "crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"iter"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/crumbs-go/session/driver"
	"github.com/crumbs-go/session/internal/params"
	"github.com/crumbs-go/session/internal/storeparams"
	"github.com/crumbs-go/session/serverstore"
)

// DefaultTable is the table CreateTable and Open use when none is given.
const DefaultTable = "crumbs_sessions"

// UserIndex is the name of the global secondary index on usr.
const UserIndex = "crumbs_usr"

// The attribute names.
const (
	aKey      = "k"
	aHead     = "hd"
	aAbsolute = "ab"
	aIdle     = "id"
	aValues   = "v"
	aExpires  = "ex"
	aTTL      = "ttl"
	aMoved    = "mv"
	aUser     = "usr"
	aBinding  = "bd"
	aSeen     = "sn"
	aRevision = "rv"
	aToken    = "wt"
)

// newToken is a write's own mark (16 random bytes, hex), stored in wt:
// a write whose condition fails reads the item, and finds its own mark
// when an earlier attempt of the same call succeeded and lost its reply.
func newToken() string {
	var b [16]byte
	crand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// wrote reports whether it is a live record (not a tombstone) last
// written by the write that holds token. A mark tells only the last
// write: if another write lands between a lost reply and the SDK's
// resend, the resend reads as a conflict (an Update then runs again).
func wrote(it item, token string, now time.Time) bool {
	t, ok := getS(it, aToken)
	_, moved := it[aMoved]
	return ok && t == token && !moved && live(it, now)
}

// The header's layout (spec/server-id-v1.md §4.1).
const metaSize = 1 + 1 + 8 + 8

// Backend stores sessions in a DynamoDB table. It is safe for concurrent
// use.
type Backend struct {
	client *dynamodb.Client
	table  string
	now    func() time.Time
}

var (
	_ serverstore.Backend      = (*Backend)(nil)
	_ serverstore.UserIndex    = (*Backend)(nil)
	_ serverstore.Counter      = (*Backend)(nil)
	_ serverstore.Clearer      = (*Backend)(nil)
	_ serverstore.Iterator     = (*Backend)(nil)
	_ serverstore.ContextBound = (*Backend)(nil)
)

// New returns a Backend on table through client, which the caller owns.
// It makes no request: CreateTable creates the table, Ping checks it.
func New(client *dynamodb.Client, table string) (*Backend, error) {
	if client == nil {
		return nil, errors.New("dynamostore: New(nil, …): give a client, such as dynamodb.NewFromConfig(cfg)")
	}
	if err := validTable(table); err != nil {
		return nil, err
	}
	return &Backend{client: client, table: table, now: time.Now}, nil
}

// validTable checks a name as DynamoDB does: 3 to 255 of a-z, A-Z, 0-9,
// '_', '-' and '.'.
func validTable(name string) error {
	ok := len(name) >= 3 && len(name) <= 255
	for _, r := range name {
		ok = ok && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-' || r == '.')
	}
	if !ok {
		return fmt.Errorf("dynamostore: table name %q: give 3 to 255 characters of a-z, A-Z, 0-9, '_', '-' and '.'", name)
	}
	return nil
}

// Client returns the Backend's client.
func (b *Backend) Client() *dynamodb.Client { return b.client }

// Table returns the Backend's table.
func (b *Backend) Table() string { return b.table }

// ContextBound reports true: the SDK ends a request at its context's
// deadline.
func (b *Backend) ContextBound() bool { return true }

// Ping checks that the table answers (one GetItem of a key no session
// has: 0.5 RCU), for readiness probes; serverstore.Store.Ping calls it.
func (b *Backend) Ping(ctx context.Context) error {
	_, err := b.client.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: &b.table,
		Key:       map[string]types.AttributeValue{aKey: &types.AttributeValueMemberS{Value: "~ping"}},
	})
	if err != nil {
		return fmt.Errorf("dynamostore: ping %s: %w", b.table, err)
	}
	return nil
}

// Close releases nothing: the SDK's client holds no connection that needs
// closing. It makes the Backend an io.Closer, as every store from
// session.OpenStore is.
func (b *Backend) Close() error { return nil }

// CreateTable creates table with the key, the crumbs_usr index and
// on-demand capacity, waits until it is active (at most 2 minutes), and
// turns on TTL on the ttl attribute. A table that exists already is
// checked (its key, and the index's keys and projection: an error names
// what differs), and TTL turned on. A service that creates tables but knows no
// TTL (some local emulators) gets its table, and an error wrapping
// errors.ErrUnsupported that says so: expired items are then still ignored
// by every read, but never deleted.
//
// The same in CloudFormation:
//
//	Sessions:
//	  Type: AWS::DynamoDB::Table
//	  Properties:
//	    TableName: crumbs_sessions
//	    BillingMode: PAY_PER_REQUEST
//	    AttributeDefinitions:
//	      - {AttributeName: k, AttributeType: S}
//	      - {AttributeName: usr, AttributeType: S}
//	    KeySchema:
//	      - {AttributeName: k, KeyType: HASH}
//	    GlobalSecondaryIndexes:
//	      - IndexName: crumbs_usr
//	        KeySchema:
//	          - {AttributeName: usr, KeyType: HASH}
//	          - {AttributeName: k, KeyType: RANGE}
//	        Projection: {ProjectionType: INCLUDE, NonKeyAttributes: [bd, sn, ex, ab]}
//	    TimeToLiveSpecification: {AttributeName: ttl, Enabled: true}
//
// A function's role needs dynamodb:GetItem, PutItem, UpdateItem,
// DeleteItem and Query on the table and its index; Count, Keys and Clear
// need Scan and BatchWriteItem too, and CreateTable (crumbs_create=true)
// dynamodb:CreateTable, DescribeTable and UpdateTimeToLive.
func CreateTable(ctx context.Context, client *dynamodb.Client, table string) error {
	if client == nil {
		return errors.New("dynamostore: CreateTable(nil, …): give a client")
	}
	if err := validTable(table); err != nil {
		return err
	}
	_, err := client.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName:   &table,
		BillingMode: types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{
			{AttributeName: aws.String(aKey), AttributeType: types.ScalarAttributeTypeS},
			{AttributeName: aws.String(aUser), AttributeType: types.ScalarAttributeTypeS},
		},
		KeySchema: []types.KeySchemaElement{{AttributeName: aws.String(aKey), KeyType: types.KeyTypeHash}},
		GlobalSecondaryIndexes: []types.GlobalSecondaryIndex{{
			IndexName: aws.String(UserIndex),
			// k as the sort key: emulators that key an index's entries by a
			// short hash of the table key (dynalite) otherwise lose one of
			// two sessions whose hashes collide.
			KeySchema: []types.KeySchemaElement{
				{AttributeName: aws.String(aUser), KeyType: types.KeyTypeHash},
				{AttributeName: aws.String(aKey), KeyType: types.KeyTypeRange},
			},
			Projection: &types.Projection{
				ProjectionType:   types.ProjectionTypeInclude,
				NonKeyAttributes: []string{aBinding, aSeen, aExpires, aAbsolute},
			},
		}},
	})
	var inUse *types.ResourceInUseException
	if err != nil && !errors.As(err, &inUse) {
		return fmt.Errorf("dynamostore: create table %s: %w", table, err)
	}
	w := dynamodb.NewTableExistsWaiter(client, func(o *dynamodb.TableExistsWaiterOptions) {
		o.MinDelay, o.MaxDelay = 100*time.Millisecond, 2*time.Second
	})
	out, err := w.WaitForOutput(ctx, &dynamodb.DescribeTableInput{TableName: &table}, 2*time.Minute)
	if err != nil {
		return fmt.Errorf("dynamostore: table %s did not become active: %w", table, err)
	}
	if inUse != nil {
		// It was there already: made by hand, or by an earlier release.
		if err := checkSchema(out.Table); err != nil {
			return fmt.Errorf("dynamostore: table %s exists, but %w (create it as CreateTable's documentation shows)", table, err)
		}
	}
	_, err = client.UpdateTimeToLive(ctx, &dynamodb.UpdateTimeToLiveInput{
		TableName: &table,
		TimeToLiveSpecification: &types.TimeToLiveSpecification{
			AttributeName: aws.String(aTTL), Enabled: aws.Bool(true),
		},
	})
	if err != nil {
		if strings.Contains(err.Error(), "already enabled") {
			return nil
		}
		if strings.Contains(err.Error(), "UnknownOperation") {
			return fmt.Errorf("dynamostore: table %s is ready, but the service does not know UpdateTimeToLive (an emulator?): expired items are ignored by reads, never deleted: %w", table, errors.ErrUnsupported)
		}
		return fmt.Errorf("dynamostore: turn on TTL for table %s: %w", table, err)
	}
	return nil
}

// checkSchema reports what an existing table lacks of what CreateTable
// makes: the partition key k (a string), and the index crumbs_usr on usr
// and k projecting bd, sn, ex and ab.
func checkSchema(t *types.TableDescription) error {
	if t == nil || len(t.KeySchema) != 1 || aws.ToString(t.KeySchema[0].AttributeName) != aKey || t.KeySchema[0].KeyType != types.KeyTypeHash {
		return errors.New("its key is not the partition key k alone")
	}
	for _, ix := range t.GlobalSecondaryIndexes {
		if aws.ToString(ix.IndexName) != UserIndex {
			continue
		}
		ks := ix.KeySchema
		if len(ks) != 2 || aws.ToString(ks[0].AttributeName) != aUser || ks[0].KeyType != types.KeyTypeHash ||
			aws.ToString(ks[1].AttributeName) != aKey || ks[1].KeyType != types.KeyTypeRange {
			return fmt.Errorf("its index %s is not on usr (partition) and k (sort)", UserIndex)
		}
		if p := ix.Projection; p == nil || p.ProjectionType != types.ProjectionTypeAll {
			have := map[string]bool{}
			if p != nil {
				for _, a := range p.NonKeyAttributes {
					have[a] = true
				}
			}
			for _, a := range []string{aBinding, aSeen, aExpires, aAbsolute} {
				if !have[a] {
					return fmt.Errorf("its index %s does not project %s", UserIndex, a)
				}
			}
		}
		return nil
	}
	return fmt.Errorf("it has no index %s (listing a user's sessions needs it)", UserIndex)
}

// OpenTimeout bounds how long OpenStore waits for DynamoDB to answer a
// configuration string, unless the string sets crumbs_open_timeout or the
// context has an earlier deadline. CreateTableTimeout bounds, apart, the
// creation crumbs_create=true asks for (a table with an index takes
// DynamoDB tens of seconds; a Lambda function's init phase has 10 s:
// create the table at deployment instead).
const (
	OpenTimeout        = 5 * time.Second
	CreateTableTimeout = 2 * time.Minute
)

// Open builds a Backend from a configuration string (the forms are in the
// package documentation), with the SDK's default configuration, and checks
// that the table answers within OpenTimeout. The serverstore options it
// returns are the ones the string set.
func Open(ctx context.Context, cfg string) (*Backend, []serverstore.Option, error) {
	const pkg = "dynamostore"
	u, err := params.Parse(pkg, cfg)
	if err != nil {
		return nil, nil, err
	}
	if u.User != nil {
		return nil, nil, errors.New("dynamostore: the configuration string holds user information: credentials come from the SDK's default chain (AWS_ACCESS_KEY_ID, the shared files, the function's role), never from the string")
	}
	table := u.Host
	if table == "" {
		table = DefaultTable
	}
	if p := strings.Trim(u.Path, "/"); p != "" {
		return nil, nil, fmt.Errorf("dynamostore: the path %q: give the table as the host, dynamodb://TABLE?region=…, without a path", u.Path)
	}
	if err := validTable(table); err != nil {
		return nil, nil, err
	}
	q := u.Query()
	var sopts []serverstore.Option
	create := false
	timeout := OpenTimeout
	err = params.Each(pkg, q, params.Crumbs, func(name, v string) error {
		if opt, ok, err := storeparams.Server(pkg, name, v); ok {
			if opt != nil {
				sopts = append(sopts, opt)
			}
			return err
		}
		var err error
		switch name {
		case "crumbs_create":
			create, err = params.Bool(pkg, name, v)
		case "crumbs_open_timeout":
			timeout, err = params.Duration(pkg, name, v, time.Millisecond)
		default:
			err = fmt.Errorf("dynamostore: unknown parameter %s (crumbs' own are crumbs_create, crumbs_raw_ids, crumbs_client_details, crumbs_grace, crumbs_open_timeout)", name)
		}
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	var loads []func(*config.LoadOptions) error
	var endpoint string
	err = params.Each(pkg, q, func(string) bool { return true }, func(name, v string) error {
		switch name {
		case "region":
			if v == "" {
				return params.Bad(pkg, name, v, "a region, such as eu-west-1")
			}
			loads = append(loads, config.WithRegion(v))
		case "endpoint":
			e, err := url.Parse(v)
			if err != nil || (e.Scheme != "http" && e.Scheme != "https") || e.Host == "" || e.User != nil {
				// The value is not quoted: it may hold credentials.
				return errors.New("dynamostore: parameter endpoint: give an http or https URL without user information, such as http://127.0.0.1:8000")
			}
			endpoint = v
		default:
			return fmt.Errorf("dynamostore: unknown parameter %s (the SDK's are region and endpoint; crumbs' own start with crumbs_)", name)
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	octx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	awsCfg, err := config.LoadDefaultConfig(octx, loads...)
	if err != nil {
		return nil, nil, fmt.Errorf("dynamostore: the AWS configuration: %w", err)
	}
	if awsCfg.Region == "" {
		return nil, nil, errors.New("dynamostore: no region: give region=… in the string, or set AWS_REGION")
	}
	client := dynamodb.NewFromConfig(awsCfg, func(o *dynamodb.Options) {
		if endpoint != "" {
			o.BaseEndpoint = aws.String(endpoint)
		}
	})
	b, err := New(client, table)
	if err != nil {
		return nil, nil, err
	}
	if create {
		// Creating a table and its index takes DynamoDB longer than a
		// ping: CreateTableTimeout of its own.
		cctx, ccancel := context.WithTimeout(ctx, CreateTableTimeout)
		err := CreateTable(cctx, client, table)
		ccancel()
		if errors.Is(err, errors.ErrUnsupported) {
			slog.Warn(err.Error())
		} else if err != nil {
			return nil, nil, err
		}
	}
	pctx, pcancel := context.WithTimeout(ctx, timeout) // after a create, which has a limit of its own
	defer pcancel()
	if err := b.Ping(pctx); err != nil {
		var missing *types.ResourceNotFoundException
		switch {
		case errors.As(err, &missing):
			return nil, nil, fmt.Errorf("dynamostore: table %s does not exist: create it (CreateTable, the CloudFormation in its documentation, or crumbs_create=true): %w", table, err)
		case errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil:
			return nil, nil, fmt.Errorf("dynamostore: table %s did not answer within %v: %w", table, timeout, err)
		}
		return nil, nil, err
	}
	return b, sopts, nil
}

func init() {
	driver.Register("dynamodb", func(ctx context.Context, cfg string, secrets [][]byte) (driver.Store, error) {
		b, sopts, err := Open(ctx, cfg)
		if err != nil {
			return nil, err
		}
		return serverstore.New(b, secrets, sopts...)
	})
}

// item attributes, by name.
type item = map[string]types.AttributeValue

func s(v string) *types.AttributeValueMemberS { return &types.AttributeValueMemberS{Value: v} }
func n(v int64) *types.AttributeValueMemberN {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(v, 10)}
}
func un(v uint64) *types.AttributeValueMemberN {
	return &types.AttributeValueMemberN{Value: strconv.FormatUint(v, 10)}
}
func bin(v []byte) *types.AttributeValueMemberB {
	if v == nil {
		v = []byte{}
	}
	return &types.AttributeValueMemberB{Value: v}
}

func (b *Backend) key(k string) item { return item{aKey: s(k)} }

// member is the name of a session key's member of v: "_" and the key, so
// that the empty key, which DynamoDB refuses as a name, has one.
func member(k string) string { return "_" + k }

// expiresAttrs are ex and ttl for an expiry.
func expiresAttrs(t time.Time) (ex, ttl *types.AttributeValueMemberN) {
	ms := t.UnixMilli()
	sec := ms / 1000
	if ms%1000 != 0 {
		sec++
	}
	return n(ms), n(sec)
}

// getS, getN, getB read attributes of an item; a missing or mistyped one
// reads as zero.
func getS(it item, name string) (string, bool) {
	v, ok := it[name].(*types.AttributeValueMemberS)
	if !ok {
		return "", false
	}
	return v.Value, true
}

func getN(it item, name string) (int64, bool) {
	v, ok := it[name].(*types.AttributeValueMemberN)
	if !ok {
		return 0, false
	}
	x, err := strconv.ParseInt(v.Value, 10, 64)
	return x, err == nil
}

func getB(it item, name string) ([]byte, bool) {
	v, ok := it[name].(*types.AttributeValueMemberB)
	if !ok {
		return nil, false
	}
	return v.Value, true
}

// live reports whether it is a record or tombstone that has not expired at
// now: its ex is later, and so is its absolute deadline if it has one.
func live(it item, now time.Time) bool {
	if it == nil {
		return false
	}
	ex, ok := getN(it, aExpires)
	if !ok || ex <= now.UnixMilli() {
		return false
	}
	ab, _ := getN(it, aAbsolute)
	return ab <= 0 || ab > now.Unix()
}

// liveCond is the condition that the item is live at now (as live).
const liveCond = "attribute_exists(#k) AND #ex > :nowms AND (attribute_not_exists(#ab) OR #ab = :zero OR #ab > :nows)"

func liveNames() map[string]string {
	return map[string]string{"#k": aKey, "#ex": aExpires, "#ab": aAbsolute}
}

func liveValues(now time.Time) item {
	return item{":nowms": n(now.UnixMilli()), ":nows": n(now.Unix()), ":zero": n(0)}
}

// meta reassembles a record's header from its item.
func meta(it item) ([]byte, error) {
	hd, ok1 := getB(it, aHead)
	idle, ok2 := getB(it, aIdle)
	abs, ok3 := it[aAbsolute].(*types.AttributeValueMemberN)
	if !ok1 || !ok2 || !ok3 || len(hd) < 2 || len(idle) != 8 {
		return nil, errors.New("dynamostore: malformed item: its header attributes hd, ab and id are missing or malformed")
	}
	a, err := strconv.ParseUint(abs.Value, 10, 64)
	if err != nil {
		return nil, errors.New("dynamostore: malformed item: its ab is not a deadline")
	}
	m := make([]byte, metaSize, metaSize+len(hd)-2)
	copy(m, hd[:2])
	binary.BigEndian.PutUint64(m[2:], a)
	copy(m[10:], idle)
	return append(m, hd[2:]...), nil
}

// entry decodes a live item. A tombstone gives ErrMoved with its successor.
func entry(it item) (*serverstore.Entry, error) {
	if next, ok := getS(it, aMoved); ok {
		return &serverstore.Entry{Successor: next}, serverstore.ErrMoved
	}
	m, err := meta(it)
	if err != nil {
		return nil, err
	}
	e := &serverstore.Entry{Meta: m, Values: map[string][]byte{}}
	if vm, ok := it[aValues].(*types.AttributeValueMemberM); ok {
		for name, v := range vm.Value {
			k, ok := strings.CutPrefix(name, "_")
			bv, isB := v.(*types.AttributeValueMemberB)
			if !ok || !isB {
				return nil, fmt.Errorf("dynamostore: malformed item: member %q of v", name)
			}
			e.Values[k] = bv.Value
		}
	}
	e.Binding = binding(it)
	return e, nil
}

// binding decodes an item's binding; nil for none or a malformed one.
func binding(it item) *serverstore.Binding {
	bd, ok := getB(it, aBinding)
	if !ok {
		return nil
	}
	sn, _ := getN(it, aSeen)
	if sn < 0 {
		sn = 0
	}
	bb, err := serverstore.DecodeBinding(bd, uint64(sn))
	if err != nil {
		return nil
	}
	return bb
}

// read is a strongly consistent GetItem; nil for no item.
func (b *Backend) read(ctx context.Context, key string) (item, error) {
	out, err := b.client.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: &b.table, Key: b.key(key), ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return nil, err
	}
	return out.Item, nil
}

// Get reads a live record: one strongly consistent GetItem.
func (b *Backend) Get(ctx context.Context, key string) (*serverstore.Entry, error) {
	it, err := b.read(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("dynamostore: get: %w", err)
	}
	if !live(it, b.now()) {
		return nil, serverstore.ErrNotFound
	}
	return entry(it)
}

// Create puts a new item, unless a live record or tombstone holds key: one
// conditional PutItem.
func (b *Backend) Create(ctx context.Context, key string, e *serverstore.Entry, expires time.Time) error {
	if len(e.Meta) < metaSize {
		return fmt.Errorf("dynamostore: create: a header of %d bytes, under %d", len(e.Meta), metaSize)
	}
	it := b.key(key)
	head(it, e.Meta, true, true)
	vals := make(item, len(e.Values))
	for k, v := range e.Values {
		vals[member(k)] = bin(v)
	}
	it[aValues] = &types.AttributeValueMemberM{Value: vals}
	it[aExpires], it[aTTL] = expiresAttrs(expires)
	// A revision no earlier item under key had: a conditional put of
	// applyWhole that read an earlier item never matches this one.
	it[aRevision] = n(time.Now().UnixNano())
	token := newToken()
	it[aToken] = s(token)
	if bd := e.Binding; bd != nil && bd.User != "" {
		it[aUser], it[aBinding], it[aSeen] = s(bd.User), bin(serverstore.EncodeBinding(bd)), n(bd.Seen.Unix())
	}
	now := b.now()
	cond, names, values := "NOT ("+liveCond+")", liveNames(), liveValues(now)
	if e.Replaces != "" {
		// The tombstone it may take the place of (Entry.Replaces).
		cond += " OR #mv = :replaces"
		names["#mv"], values[":replaces"] = aMoved, s(e.Replaces)
	}
	_, err := b.client.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:                 &b.table,
		Item:                      it,
		ConditionExpression:       aws.String(cond),
		ExpressionAttributeNames:  names,
		ExpressionAttributeValues: values,
	})
	var failed *types.ConditionalCheckFailedException
	if errors.As(err, &failed) {
		// Taken, or written by this very call: the SDK sends a request
		// again when a reply is lost.
		cur, rerr := b.read(ctx, key)
		if rerr == nil && wrote(cur, token, b.now()) {
			return nil
		}
		return serverstore.ErrExists
	}
	if err != nil {
		return fmt.Errorf("dynamostore: create: %w", err)
	}
	return nil
}

// head sets in it the header attributes from m: the idle deadline always,
// the format, flags and cookie attributes if flags, the absolute deadline
// if abs.
func head(it item, m []byte, flags, abs bool) {
	if flags {
		hd := make([]byte, 0, 2+len(m)-metaSize)
		hd = append(append(hd, m[:2]...), m[metaSize:]...)
		it[aHead] = bin(hd)
	}
	if abs {
		it[aAbsolute] = un(binary.BigEndian.Uint64(m[2:]))
	}
	it[aIdle] = bin(m[10:metaSize])
}

// maxExpression is DynamoDB's limit on an expression's length (4 KB), less
// a margin; maxOperators, on the operators and functions of one
// expression (300), less those of the liveness condition (or the header's
// SET), with a margin: the changes' own, counted in each expression apart.
const (
	maxExpression = 4000
	maxOperators  = 250
)

// Apply writes what a request changed: one conditional UpdateItem; when
// its condition fails, one strongly consistent GetItem tells why.
func (b *Backend) Apply(ctx context.Context, key string, w *serverstore.Write) ([]byte, error) {
	if len(w.Meta) < metaSize {
		return nil, fmt.Errorf("dynamostore: apply: a header of %d bytes, under %d", len(w.Meta), metaSize)
	}
	if w.Convert {
		return nil, serverstore.ErrConverted // no item is of the format-1 layout
	}
	changes := lastChanges(w.Changes)
	token := newToken()
	for range 4 {
		now := b.now()
		in, ok := b.update(key, w, changes, token, now)
		if !ok {
			return b.applyWhole(ctx, key, w, changes, token)
		}
		out, err := b.client.UpdateItem(ctx, in)
		var failed *types.ConditionalCheckFailedException
		if errors.As(err, &failed) {
			it, err := b.read(ctx, key)
			if err != nil {
				return nil, fmt.Errorf("dynamostore: apply: %w", err)
			}
			if wrote(it, token, b.now()) {
				// The SDK sent the update again after a reply was lost:
				// the first attempt wrote it.
				return meta(it)
			}
			if err := b.why(it, w, changes, b.now()); err != nil {
				return nil, err
			}
			continue // the checks hold now: another write came in between
		}
		if err != nil {
			return nil, fmt.Errorf("dynamostore: apply: %w", err)
		}
		return meta(out.Attributes)
	}
	return nil, fmt.Errorf("dynamostore: apply: the item of %q kept changing", key)
}

// lastChanges keeps the last change of each key, in order: DynamoDB
// refuses an update that names one path twice.
func lastChanges(cs []driver.Change) []driver.Change {
	seen := make(map[string]int, len(cs))
	out := make([]driver.Change, 0, len(cs))
	for _, c := range cs {
		if i, ok := seen[c.Key]; ok {
			check, old, had := out[i].Check, out[i].Old, out[i].HadOld
			out[i] = c
			if check && !c.Check { // the first check of a key stands
				out[i].Check, out[i].Old, out[i].HadOld = true, old, had
			}
			continue
		}
		seen[c.Key] = len(out)
		out = append(out, c)
	}
	return out
}

// update is the UpdateItem of w; false when it would exceed DynamoDB's
// limits on expressions.
func (b *Backend) update(key string, w *serverstore.Write, changes []driver.Change, token string, now time.Time) (*dynamodb.UpdateItemInput, bool) {
	names := liveNames()
	values := liveValues(now)
	names["#mv"], names["#hd"], names["#id"], names["#ttl"], names["#v"], names["#rv"], names["#wt"] = aMoved, aHead, aIdle, aTTL, aValues, aRevision, aToken
	values[":wt"] = s(token)
	var set, remove []string
	setOps, condOps := 0, 0
	hdr := item{}
	head(hdr, w.Meta, w.Header&serverstore.HeaderFlags != 0, w.Header&serverstore.HeaderAbsolute != 0)
	values[":id"] = hdr[aIdle]
	set = append(set, "#id = :id")
	if v, ok := hdr[aHead]; ok {
		values[":hd"] = v
		set = append(set, "#hd = :hd")
	} else {
		set = append(set, "#hd = if_not_exists(#hd, :hd0)") // so that UPDATED_NEW returns it
		values[":hd0"] = bin([]byte{2, 0})
	}
	if v, ok := hdr[aAbsolute]; ok {
		values[":ab"] = v
		set = append(set, "#ab = :ab")
	} else {
		set = append(set, "#ab = if_not_exists(#ab, :zero)")
	}
	values[":ex"], values[":ttl"] = expiresAttrs(w.Expires)
	set = append(set, "#ex = :ex", "#ttl = :ttl", "#rv = if_not_exists(#rv, :zero) + :one", "#wt = :wt")
	values[":one"] = n(1)
	if w.User != "" && w.Binding != nil {
		names["#usr"], names["#bd"], names["#sn"] = aUser, aBinding, aSeen
		values[":usr"], values[":bd"], values[":sn"] = s(w.User), bin(serverstore.EncodeBinding(w.Binding)), n(w.Seen.Unix())
		set = append(set, "#usr = if_not_exists(#usr, :usr)", "#bd = if_not_exists(#bd, :bd)", "#sn = :sn")
	}
	cond := []string{liveCond, "attribute_not_exists(#mv)"}
	if w.Clear {
		m := item{}
		for _, c := range changes {
			if !c.Delete {
				m[member(c.Key)] = bin(c.Value)
			}
		}
		values[":v"] = &types.AttributeValueMemberM{Value: m}
		set = append(set, "#v = :v")
	}
	for i, c := range changes {
		p := "#m" + strconv.Itoa(i)
		names[p] = member(c.Key)
		if !w.Clear {
			if c.Delete {
				remove = append(remove, "#v."+p)
			} else {
				vp := ":s" + strconv.Itoa(i)
				values[vp] = bin(c.Value)
				set = append(set, "#v."+p+" = "+vp)
			}
			setOps++
		}
		if c.Check {
			if c.HadOld {
				op := ":o" + strconv.Itoa(i)
				values[op] = bin(c.Old)
				cond = append(cond, "#v."+p+" = "+op)
			} else {
				cond = append(cond, "attribute_not_exists(#v."+p+")")
			}
			condOps += 2 // the AND, and the comparison or function
		}
	}
	expr := "SET " + strings.Join(set, ", ")
	if len(remove) > 0 {
		expr += " REMOVE " + strings.Join(remove, ", ")
	}
	condition := strings.Join(cond, " AND ")
	if len(expr) > maxExpression || len(condition) > maxExpression || setOps > maxOperators || condOps > maxOperators {
		return nil, false
	}
	prune(names, values, expr+" "+condition)
	return &dynamodb.UpdateItemInput{
		TableName:                 &b.table,
		Key:                       b.key(key),
		UpdateExpression:          &expr,
		ConditionExpression:       &condition,
		ExpressionAttributeNames:  names,
		ExpressionAttributeValues: values,
		ReturnValues:              types.ReturnValueUpdatedNew,
	}, true
}

// why explains a failed condition from the item as read afterwards: absent
// or expired, a tombstone, or a check that fails (a *driver.ConflictError
// with the stored value of every checked key that exists); nil when the
// write would succeed now.
func (b *Backend) why(it item, w *serverstore.Write, changes []driver.Change, now time.Time) error {
	if !live(it, now) {
		return serverstore.ErrNotFound
	}
	if _, ok := getS(it, aMoved); ok {
		return serverstore.ErrMoved
	}
	e, err := entry(it)
	if err != nil {
		return err
	}
	conflict := &driver.ConflictError{Values: map[string][]byte{}}
	failed := false
	for _, c := range changes {
		if !c.Check {
			continue
		}
		v, ok := e.Values[c.Key]
		if ok {
			conflict.Values[c.Key] = v
		}
		failed = failed || ok != c.HadOld || ok && string(v) != string(c.Old)
	}
	if failed {
		return conflict
	}
	return nil
}

// applyWhole applies a Write too large for one UpdateItem: a strongly
// consistent read, the changes applied to it, and a PutItem conditional on
// the revision read, repeated while other writes come in between.
func (b *Backend) applyWhole(ctx context.Context, key string, w *serverstore.Write, changes []driver.Change, token string) ([]byte, error) {
	for range 16 {
		it, err := b.read(ctx, key)
		if err != nil {
			return nil, fmt.Errorf("dynamostore: apply: %w", err)
		}
		if wrote(it, token, b.now()) {
			return meta(it) // the put of an earlier turn, whose reply was lost
		}
		now := b.now()
		if !live(it, now) {
			return nil, serverstore.ErrNotFound
		}
		if err := b.why(it, w, changes, now); err != nil {
			return nil, err
		}
		rv, _ := getN(it, aRevision)
		names, values := liveNames(), liveValues(now)
		names["#rv"], values[":rv"] = aRevision, n(rv)
		head(it, w.Meta, w.Header&serverstore.HeaderFlags != 0, w.Header&serverstore.HeaderAbsolute != 0)
		vals := item{}
		if vm, ok := it[aValues].(*types.AttributeValueMemberM); ok && !w.Clear {
			vals = vm.Value
		}
		for _, c := range changes {
			if c.Delete {
				delete(vals, member(c.Key))
			} else {
				vals[member(c.Key)] = bin(c.Value)
			}
		}
		it[aValues] = &types.AttributeValueMemberM{Value: vals}
		it[aExpires], it[aTTL] = expiresAttrs(w.Expires)
		it[aRevision] = n(rv + 1)
		it[aToken] = s(token)
		if w.User != "" && w.Binding != nil {
			if _, ok := it[aUser]; !ok {
				it[aUser], it[aBinding] = s(w.User), bin(serverstore.EncodeBinding(w.Binding))
			}
			it[aSeen] = n(w.Seen.Unix())
		}
		_, err = b.client.PutItem(ctx, &dynamodb.PutItemInput{
			TableName:                 &b.table,
			Item:                      it,
			ConditionExpression:       aws.String(liveCond + " AND #rv = :rv"),
			ExpressionAttributeNames:  names,
			ExpressionAttributeValues: values,
		})
		var failed *types.ConditionalCheckFailedException
		if errors.As(err, &failed) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("dynamostore: apply: %w", err)
		}
		return meta(it)
	}
	return nil, fmt.Errorf("dynamostore: apply: the item of %q kept changing", key)
}

// Retire replaces the record by a tombstone and returns what it held: one
// conditional UpdateItem (and a GetItem when the record is not there).
func (b *Backend) Retire(ctx context.Context, key, successor string, until time.Time) (*serverstore.Entry, error) {
	for range 4 {
		now := b.now()
		names := liveNames()
		values := liveValues(now)
		for _, a := range []string{aMoved, aHead, aIdle, aTTL, aValues, aUser, aBinding, aSeen, aRevision, aToken} {
			names["#"+a] = a
		}
		values[":mv"] = s(successor)
		values[":ex"], values[":ttl"] = expiresAttrs(until)
		values[":one"] = n(1)
		out, err := b.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName:                 &b.table,
			Key:                       b.key(key),
			UpdateExpression:          aws.String("SET #mv = :mv, #ex = :ex, #ttl = :ttl, #rv = if_not_exists(#rv, :zero) + :one REMOVE #hd, #ab, #id, #v, #usr, #bd, #sn, #wt"),
			ConditionExpression:       aws.String(liveCond + " AND attribute_not_exists(#mv)"),
			ExpressionAttributeNames:  names,
			ExpressionAttributeValues: values,
			ReturnValues:              types.ReturnValueAllOld,
		})
		var failed *types.ConditionalCheckFailedException
		if errors.As(err, &failed) {
			it, err := b.read(ctx, key)
			if err != nil {
				return nil, fmt.Errorf("dynamostore: retire: %w", err)
			}
			if !live(it, b.now()) {
				return nil, serverstore.ErrNotFound
			}
			if next, ok := getS(it, aMoved); ok {
				return &serverstore.Entry{Successor: next}, serverstore.ErrMoved
			}
			continue // live again: a Create came in between
		}
		if err != nil {
			return nil, fmt.Errorf("dynamostore: retire: %w", err)
		}
		return entry(out.Attributes)
	}
	return nil, fmt.Errorf("dynamostore: retire: the item of %q kept changing", key)
}

// Delete removes the item, and returns the successor a tombstone named:
// a strongly consistent GetItem, then a DeleteItem conditional on the
// revision read. The read keeps the successor when the SDK sends the
// delete again after its reply was lost (the resend finds nothing), and
// the condition makes sure the item deleted is the one read: a Retire in
// between makes it read again.
func (b *Backend) Delete(ctx context.Context, key string) (string, error) {
	for range 8 {
		it, err := b.read(ctx, key)
		if err != nil {
			return "", fmt.Errorf("dynamostore: delete: %w", err)
		}
		if it == nil {
			return "", nil
		}
		next, _ := getS(it, aMoved)
		in := &dynamodb.DeleteItemInput{TableName: &b.table, Key: b.key(key), ReturnValues: types.ReturnValueAllOld}
		if rv, ok := it[aRevision]; ok {
			in.ConditionExpression = aws.String("#rv = :rv")
			in.ExpressionAttributeNames = map[string]string{"#rv": aRevision}
			in.ExpressionAttributeValues = item{":rv": rv}
		} else {
			in.ConditionExpression = aws.String("attribute_not_exists(#rv)")
			in.ExpressionAttributeNames = map[string]string{"#rv": aRevision}
		}
		_, err = b.client.DeleteItem(ctx, in)
		var failed *types.ConditionalCheckFailedException
		if errors.As(err, &failed) {
			// Written since the read, or gone: the resend of a delete
			// whose reply was lost finds the item gone, and the read told
			// what it was.
			cur, rerr := b.read(ctx, key)
			if rerr == nil && cur == nil {
				return next, nil
			}
			continue
		}
		if err != nil {
			return "", fmt.Errorf("dynamostore: delete: %w", err)
		}
		return next, nil
	}
	return "", fmt.Errorf("dynamostore: delete: the item of %q kept changing", key)
}

// Bound returns the live records bound to user: a Query of the crumbs_usr
// index (eventually consistent: see the package documentation).
func (b *Backend) Bound(ctx context.Context, user string) (map[string]*serverstore.Binding, error) {
	out := map[string]*serverstore.Binding{}
	p := dynamodb.NewQueryPaginator(b.client, &dynamodb.QueryInput{
		TableName:                 &b.table,
		IndexName:                 aws.String(UserIndex),
		KeyConditionExpression:    aws.String("#usr = :usr"),
		ExpressionAttributeNames:  map[string]string{"#usr": aUser},
		ExpressionAttributeValues: item{":usr": s(user)},
	})
	now := b.now()
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("dynamostore: list: %w", err)
		}
		for _, it := range page.Items {
			k, _ := getS(it, aKey)
			if bd := binding(it); bd != nil && bd.User == user && live(it, now) {
				out[k] = bd
			}
		}
	}
	return out, nil
}

// scan yields the table's items, attrs of each.
func (b *Backend) scan(ctx context.Context, attrs ...string) iter.Seq2[item, error] {
	return func(yield func(item, error) bool) {
		names := map[string]string{}
		proj := make([]string, len(attrs))
		for i, a := range attrs {
			names["#"+a] = a
			proj[i] = "#" + a
		}
		p := dynamodb.NewScanPaginator(b.client, &dynamodb.ScanInput{
			TableName:                &b.table,
			ProjectionExpression:     aws.String(strings.Join(proj, ", ")),
			ExpressionAttributeNames: names,
		})
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			if err != nil {
				yield(nil, err)
				return
			}
			for _, it := range page.Items {
				if !yield(it, nil) {
					return
				}
			}
		}
	}
}

// Keys yields the keys of the live records: a Scan of the table.
func (b *Backend) Keys(ctx context.Context) iter.Seq2[string, error] {
	return func(yield func(string, error) bool) {
		now := b.now()
		for it, err := range b.scan(ctx, aKey, aExpires, aAbsolute, aMoved) {
			if err != nil {
				yield("", fmt.Errorf("dynamostore: keys: %w", err))
				return
			}
			if _, moved := it[aMoved]; moved || !live(it, now) {
				continue
			}
			k, _ := getS(it, aKey)
			if !yield(k, nil) {
				return
			}
		}
	}
}

// Count counts the live records: a Scan of the table.
func (b *Backend) Count(ctx context.Context) (int, error) {
	c := 0
	for _, err := range b.Keys(ctx) {
		if err != nil {
			return 0, err
		}
		c++
	}
	return c, nil
}

// Clear deletes every item: a Scan, and BatchWriteItem of 25 deletions at
// a time.
func (b *Backend) Clear(ctx context.Context) error {
	var batch []types.WriteRequest
	flush := func() error {
		for len(batch) > 0 {
			out, err := b.client.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{
				RequestItems: map[string][]types.WriteRequest{b.table: batch},
			})
			if err != nil {
				return fmt.Errorf("dynamostore: clear: %w", err)
			}
			batch = out.UnprocessedItems[b.table]
			if len(batch) > 0 {
				select {
				case <-ctx.Done():
					return ctx.Err()
				case <-time.After(50 * time.Millisecond):
				}
			}
		}
		return nil
	}
	for it, err := range b.scan(ctx, aKey) {
		if err != nil {
			return fmt.Errorf("dynamostore: clear: %w", err)
		}
		batch = append(batch, types.WriteRequest{DeleteRequest: &types.DeleteRequest{Key: item{aKey: it[aKey]}}})
		if len(batch) == 25 {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	return flush()
}

// prune deletes the placeholders text does not use: DynamoDB refuses an
// unused one.
func prune(names map[string]string, values item, text string) {
	for p := range names {
		if !uses(text, p) {
			delete(names, p)
		}
	}
	for p := range values {
		if !uses(text, p) {
			delete(values, p)
		}
	}
}

// uses reports whether text holds placeholder p as a whole token.
func uses(text, p string) bool {
	for off := 0; ; {
		i := strings.Index(text[off:], p)
		if i < 0 {
			return false
		}
		end := off + i + len(p)
		if end == len(text) || !isWord(text[end]) {
			return true
		}
		off = end
	}
}

func isWord(c byte) bool {
	return c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}
