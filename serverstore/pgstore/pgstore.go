// Package pgstore is a serverstore.Backend on PostgreSQL, through pgx.
//
// Sessions are rows of one table with an index on expires (Schema gives the
// SQL): the record's header in meta, the values in vals, a jsonb object with
// one member per key (base64 of the stored value), and a moved flag for the
// tombstone of a retired ID. Get is one SELECT that never returns an expired
// row; Create, Apply and Retire are one statement each: Apply changes only
// the members a request changed (jsonb "-" and "||"), checking Update's
// values in its WHERE clause, so parallel writers of different keys never
// conflict; a deadline refresh rewrites meta and expires, never vals. Rows
// of the format-1 layout (data, version) keep loading and are rewritten in
// the current layout on their next save; New adds the new columns to a
// table created by an earlier release. Expired rows are removed by
// DeleteExpired, on demand or on a stoppable interval (StartCleanup): one
// DELETE … WHERE expires < now() that walks the expires index (a B-tree,
// so it reads only the expired rows, oldest first) instead of the table.
// Get ignores expired rows whether or not a cleanup runs.
//
// A session bound to a user (package devices) also fills columns usr (the
// user), bind and seen; a partial index on usr makes listing a user's
// sessions one index scan, with no extra statement on any write.
//
// # Configuration strings
//
// Importing the package registers the "postgres" and "postgresql" schemes
// for session.OpenStore. The string is pgx's (libpq's URL form) with its
// own parameters — pool_max_conns (default: 4 or the number of CPUs,
// whichever is more), pool_max_conn_idle_time, connect_timeout, sslmode
// and so on — and any other parameter is sent to PostgreSQL as a run-time
// setting, so statement_timeout=5s bounds every statement. crumbs' own
// parameters start with crumbs_; an unknown one is an error that names it:
//
//	postgres://app@db:5432/app?pool_max_conns=20&statement_timeout=5s&crumbs_cleanup=10m
//
//	crumbs_table=NAME      the table (default crumbs_sessions)
//	crumbs_schema=NAME     its schema (default: the search path)
//	crumbs_create=false    do not create the table and index (see Schema)
//	crumbs_raw_ids=true    serverstore.WithRawIDs
//	crumbs_client_details=true serverstore.WithClientDetails
//	crumbs_grace=10s       serverstore.WithGrace
//	crumbs_cleanup=10m     StartCleanup at that interval (1s or more); its
//	                       failures are logged with slog.Default
//	crumbs_open_timeout=2s how long OpenStore waits for PostgreSQL (OpenTimeout, 5 s)
//
// A store opened from a string owns its pool: close it (the Store is an
// io.Closer) to stop the cleanup and release the pool. Store.Ping is a
// readiness check.
package pgstore

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/crumbs-go/session/driver"
	"github.com/crumbs-go/session/internal/params"
	"github.com/crumbs-go/session/internal/storeparams"
	"github.com/crumbs-go/session/serverstore"
)

// DefaultTable is the table name when none is given.
const DefaultTable = "crumbs_sessions"

// Backend stores sessions in PostgreSQL. It is safe for concurrent use.
type Backend struct {
	pool  *pgxpool.Pool
	table string // quoted, possibly schema-qualified

	qGet, qCreate, qApply, qRetire, qDelete, qExpired, qBound string

	owned     bool // opened from a configuration string: Close closes the pool
	closeOnce sync.Once
	mu        sync.Mutex
	stops     []func() // the cleanups StartCleanup started
}

var (
	_ serverstore.Backend   = (*Backend)(nil)
	_ serverstore.UserIndex = (*Backend)(nil)
	_ serverstore.Counter   = (*Backend)(nil)
	_ serverstore.Clearer   = (*Backend)(nil)
	_ serverstore.Iterator  = (*Backend)(nil)
)

// An Option configures a Backend.
type Option func(*config) error

type config struct {
	schema, table string
	create        bool
}

// WithTable sets the table, and optionally its schema (empty: the search
// path). Names are quoted (pgx.Identifier), so any name PostgreSQL allows
// works, case included. The default is crumbs_sessions on the search path.
func WithTable(schema, table string) Option {
	return func(c *config) error {
		if table == "" || len(table) > 63 || len(schema) > 63 || strings.ContainsRune(table+schema, 0) {
			return fmt.Errorf("pgstore: WithTable(%q, %q): give a table name (and optionally a schema) of 1 to 63 bytes", schema, table)
		}
		c.schema, c.table = schema, table
		return nil
	}
}

// WithoutCreate skips creating the table and index at New, for databases
// migrated with Schema's SQL by other means.
func WithoutCreate() Option { return func(c *config) error { c.create = false; return nil } }

// Schema returns the SQL that creates the table and its expiry index, for
// migration tools. New runs it (IF NOT EXISTS) unless WithoutCreate.
func Schema(opts ...Option) (string, error) {
	c, err := configure(opts)
	if err != nil {
		return "", err
	}
	return schemaSQL(c), nil
}

func configure(opts []Option) (config, error) {
	c := config{table: DefaultTable, create: true}
	for _, o := range opts {
		if err := o(&c); err != nil {
			return c, err
		}
	}
	return c, nil
}

func qualified(c config) string {
	if c.schema != "" {
		return pgx.Identifier{c.schema, c.table}.Sanitize()
	}
	return pgx.Identifier{c.table}.Sanitize()
}

func schemaSQL(c config) string {
	t := qualified(c)
	index := pgx.Identifier{c.table + "_expires_idx"}.Sanitize()
	users := pgx.Identifier{c.table + "_usr_idx"}.Sanitize()
	return fmt.Sprintf(`CREATE TABLE IF NOT EXISTS %[1]s (
	key     text        PRIMARY KEY,
	meta    bytea,                          -- the record's header (format 2); NULL in a tombstone
	vals    jsonb,                          -- the values: key -> base64 of the stored value
	moved   boolean     NOT NULL DEFAULT false, -- a tombstone: the ID was retired by a Regenerate
	data    bytea,                          -- a format-1 record, read only
	version bigint,                         -- format 1, unused
	expires timestamptz NOT NULL,
	usr     text,                           -- the user the session is bound to; NULL for none
	bind    bytea,                          -- the binding (spec/server-id-v1.md §7.1)
	seen    bigint                          -- last seen, Unix seconds
);
ALTER TABLE %[1]s ADD COLUMN IF NOT EXISTS meta bytea, ADD COLUMN IF NOT EXISTS vals jsonb,
	ADD COLUMN IF NOT EXISTS moved boolean NOT NULL DEFAULT false,
	ADD COLUMN IF NOT EXISTS data bytea, ADD COLUMN IF NOT EXISTS version bigint,
	ALTER COLUMN data DROP NOT NULL, ALTER COLUMN version DROP NOT NULL,
	ADD COLUMN IF NOT EXISTS usr text, ADD COLUMN IF NOT EXISTS bind bytea, ADD COLUMN IF NOT EXISTS seen bigint;
CREATE INDEX IF NOT EXISTS %[2]s ON %[1]s (expires);
CREATE INDEX IF NOT EXISTS %[3]s ON %[1]s (usr) WHERE usr IS NOT NULL;`, t, index, users)
}

// ContextBound reports true: pgx ends a query at its context's deadline.
func (b *Backend) ContextBound() bool { return true }

// New returns a Backend over pool, which the caller owns and closes, and
// creates the table and index when they are absent.
func New(ctx context.Context, pool *pgxpool.Pool, opts ...Option) (*Backend, error) {
	if pool == nil {
		return nil, errors.New("pgstore: New(nil): give a pool, such as pgxpool.New(ctx, url)")
	}
	c, err := configure(opts)
	if err != nil {
		return nil, err
	}
	if c.create {
		if _, err := pool.Exec(ctx, schemaSQL(c)); err != nil {
			return nil, fmt.Errorf("pgstore: create the table: %w", err)
		}
	} else if _, err := pool.Exec(ctx, "SELECT usr, bind, seen FROM "+qualified(c)+" LIMIT 0"); err != nil {
		var pe *pgconn.PgError
		if errors.As(err, &pe) && pe.Code == "42703" { // undefined_column
			return nil, fmt.Errorf("pgstore: the table %s lacks the columns usr, bind and seen that this release writes (sessions bound to a user, package devices): run the SQL of pgstore.Schema, which adds them (ALTER TABLE … ADD COLUMN IF NOT EXISTS), or let New do it (no WithoutCreate, crumbs_create=true)", qualified(c))
		}
		return nil, fmt.Errorf("pgstore: the sessions table %s: %w (create it with the SQL of pgstore.Schema, or let New do it: no WithoutCreate, crumbs_create=true)", qualified(c), err)
	}
	t := qualified(c)
	// The absolute deadline inside a row's meta (bytes 3 to 10, big-endian
	// Unix seconds), as SQL.
	const absolute = `('x' || encode(substring(s.meta from 3 for 8), 'hex'))::bit(64)::bigint`
	return &Backend{
		pool:  pool,
		table: t,
		qGet:  `SELECT meta, vals, moved, data, bind, seen FROM ` + t + ` WHERE key = $1 AND expires > now()`,
		// Create: insert, or take over an expired row; nothing if a live row exists.
		qCreate: `INSERT INTO ` + t + ` AS s (key, meta, vals, moved, expires, usr, bind, seen) VALUES ($1, $2, $3, false, $4, $5, $6, $7)
			ON CONFLICT (key) DO UPDATE SET meta = EXCLUDED.meta, vals = EXCLUDED.vals, moved = false,
				data = NULL, version = NULL, expires = EXCLUDED.expires,
				usr = EXCLUDED.usr, bind = EXCLUDED.bind, seen = EXCLUDED.seen
			WHERE s.expires <= now() OR ($8 <> '' AND s.moved AND s.meta = convert_to($8, 'UTF8')) RETURNING 1`,
		// Apply, in one statement: lock the live row (FOR UPDATE waits for
		// a parallel write and then sees its result), write if it is a
		// format-2 row ($9: a format-1 row, converting) whose checked keys
		// hold $7 and lack $8, and report the row's state: written, moved,
		// format 1, the values when a check failed, and the header written.
		// $3 clear, $4 keys deleted, $5 members set; of the header $2, the
		// idle deadline always, the flags and the cookie attributes that
		// follow the deadlines if $10, the absolute deadline if
		// $11 (otherwise the stored one stays, and bounds the expiry).
		qApply: `WITH cur AS (SELECT key, meta, vals, moved FROM ` + t + ` WHERE key = $1 AND expires > now() FOR UPDATE),
			ok AS (SELECT key FROM cur WHERE NOT moved AND (meta IS NULL) = $9
				AND coalesce(vals, '{}'::jsonb) @> $7::jsonb AND NOT coalesce(vals, '{}'::jsonb) ?| $8::text[]),
			u AS (UPDATE ` + t + ` AS s SET
				meta = CASE WHEN $9 THEN $2::bytea ELSE substring(s.meta from 1 for 1)
					|| CASE WHEN $10 THEN substring($2::bytea from 2 for 1) ELSE substring(s.meta from 2 for 1) END
					|| CASE WHEN $11 THEN substring($2::bytea from 3 for 8) ELSE substring(s.meta from 3 for 8) END
					|| substring($2::bytea from 11 for 8)
					|| CASE WHEN $10 THEN substring($2::bytea from 19) ELSE substring(s.meta from 19) END END,
				vals = ((CASE WHEN $3 THEN '{}'::jsonb ELSE coalesce(s.vals, '{}'::jsonb) END) - $4::text[]) || $5::jsonb,
				data = NULL, version = NULL,
				usr = coalesce(s.usr, $14::text), bind = coalesce(s.bind, $13::bytea),
				seen = CASE WHEN $12::bigint > 0 AND coalesce(s.usr, $14::text) IS NOT NULL THEN $12::bigint ELSE s.seen END,
				expires = CASE WHEN NOT $9 AND NOT $11 AND ` + absolute + ` > 0 THEN least($6, to_timestamp(` + absolute + `)) ELSE $6 END
				FROM ok WHERE s.key = ok.key RETURNING s.meta)
			SELECT EXISTS (SELECT 1 FROM u), cur.moved, cur.meta IS NULL,
				CASE WHEN EXISTS (SELECT 1 FROM u) THEN NULL ELSE cur.vals END, (SELECT meta FROM u) FROM cur`,
		// Retire: a tombstone keeps the successor's key in meta.
		qRetire: `WITH old AS (SELECT key, meta, vals, moved, data, bind, seen FROM ` + t + ` WHERE key = $1 AND expires > now() FOR UPDATE)
			UPDATE ` + t + ` AS s SET meta = CASE WHEN old.moved THEN s.meta ELSE $3 END, vals = NULL, data = NULL, version = NULL,
				moved = true, expires = CASE WHEN old.moved THEN s.expires ELSE $2 END, usr = NULL, bind = NULL, seen = NULL
			FROM old WHERE s.key = old.key RETURNING old.meta, old.vals, old.moved, old.data, old.bind, old.seen`,
		qDelete:  `DELETE FROM ` + t + ` WHERE key = $1 RETURNING moved, meta`,
		qExpired: `DELETE FROM ` + t + ` WHERE expires <= now()`,
		qBound:   `SELECT key, bind, seen FROM ` + t + ` WHERE usr = $1 AND expires > now() AND NOT moved`,
	}, nil
}

// OpenTimeout bounds how long OpenStore waits for PostgreSQL to answer a
// configuration string (connect and create the table), unless the string
// sets crumbs_open_timeout or the context has an earlier deadline.
const OpenTimeout = 5 * time.Second

// Open builds a Backend from a configuration string (the forms are in the
// package documentation): a pgx pool with pgx's own parameters, the
// table, and a cleanup if crumbs_cleanup asks for one. It fails within
// OpenTimeout if PostgreSQL does not answer. The Backend owns its pool:
// Close stops the cleanup and closes the pool. The serverstore options it
// returns are the ones the string set (crumbs_raw_ids, crumbs_client_details, crumbs_grace).
func Open(ctx context.Context, cfg string) (*Backend, []serverstore.Option, error) {
	const pkg = "pgstore"
	u, err := params.Parse(pkg, cfg)
	if err != nil {
		return nil, nil, err
	}
	q := u.Query()
	var opts []Option
	var sopts []serverstore.Option
	var cleanup time.Duration
	timeout := OpenTimeout
	table, schema := "", ""
	err = params.Each(pkg, q, params.Crumbs, func(name, v string) error {
		if opt, ok, err := storeparams.Server(pkg, name, v); ok {
			if opt != nil {
				sopts = append(sopts, opt)
			}
			return err
		}
		var err error
		var on bool
		switch name {
		case "crumbs_table":
			table = v
		case "crumbs_schema":
			schema = v
		case "crumbs_create":
			if on, err = params.Bool(pkg, name, v); err == nil && !on {
				opts = append(opts, WithoutCreate())
			}
		case "crumbs_cleanup":
			cleanup, err = params.Duration(pkg, name, v, time.Second)
		case "crumbs_open_timeout":
			timeout, err = params.Duration(pkg, name, v, time.Millisecond)
		default:
			err = fmt.Errorf("pgstore: unknown parameter %s (crumbs' own are crumbs_table, crumbs_schema, crumbs_create, crumbs_raw_ids, crumbs_client_details, crumbs_grace, crumbs_cleanup, crumbs_open_timeout)", name)
		}
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	if schema != "" && table == "" {
		table = DefaultTable
	}
	if table != "" {
		opts = append(opts, WithTable(schema, table))
	}
	if _, err := configure(opts); err != nil {
		return nil, nil, err
	}
	u.RawQuery = q.Encode()
	pool, err := pgxpool.New(ctx, u.String())
	if err != nil {
		return nil, nil, fmt.Errorf("pgstore: %w", err)
	}
	octx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := pool.Ping(octx); err != nil {
		pool.Close()
		return nil, nil, fmt.Errorf("pgstore: %s did not answer within %v: %w", params.Redact(u), timeout, err)
	}
	b, err := New(octx, pool, opts...)
	if err != nil {
		pool.Close()
		return nil, nil, err
	}
	b.owned = true
	// The table must be there (crumbs_create=false leaves it to the
	// operator): fail now rather than at the first request.
	if _, err := pool.Exec(octx, "SELECT 1 FROM "+b.table+" LIMIT 0"); err != nil {
		pool.Close()
		return nil, nil, fmt.Errorf("pgstore: the sessions table %s: %w (create it with the SQL of pgstore.Schema, or drop crumbs_create=false)", b.table, err)
	}
	if cleanup > 0 {
		b.StartCleanup(cleanup, func(err error) { slog.Error("pgstore: deleting expired sessions failed", "err", err) })
	}
	return b, sopts, nil
}

func init() {
	open := func(ctx context.Context, cfg string, secrets [][]byte) (driver.Store, error) {
		b, sopts, err := Open(ctx, cfg)
		if err != nil {
			return nil, err
		}
		s, err := serverstore.New(b, secrets, sopts...)
		if err != nil {
			b.Close()
			return nil, err
		}
		return s, nil
	}
	driver.Register("postgres", open)
	driver.Register("postgresql", open)
}

// Pool returns the Backend's pool (Open's own, or the one given to New).
func (b *Backend) Pool() *pgxpool.Pool { return b.pool }

// Ping checks that PostgreSQL answers, for readiness probes;
// serverstore.Store.Ping calls it.
func (b *Backend) Ping(ctx context.Context) error {
	if err := b.pool.Ping(ctx); err != nil {
		return fmt.Errorf("pgstore: ping: %w", err)
	}
	return nil
}

// Close stops every cleanup StartCleanup started and, if the Backend
// opened its pool (Open, OpenStore), closes it; a pool given to New is the
// caller's, and Close leaves it open. Close is idempotent.
func (b *Backend) Close() error {
	b.mu.Lock()
	stops := b.stops
	b.stops = nil
	b.mu.Unlock()
	for _, stop := range stops {
		stop()
	}
	if b.owned {
		b.closeOnce.Do(b.pool.Close)
	}
	return nil
}

// Get reads a live record: one SELECT.
func (b *Backend) Get(ctx context.Context, key string) (*serverstore.Entry, error) {
	var meta, data, bind []byte
	var vals map[string][]byte
	var moved bool
	var seen *int64
	err := b.pool.QueryRow(ctx, b.qGet, key).Scan(&meta, &vals, &moved, &data, &bind, &seen)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, serverstore.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("pgstore: get: %w", err)
	}
	e, err := entry(meta, vals, moved, data)
	if err == nil {
		e.Binding = binding(bind, seen)
	}
	return e, err
}

// binding decodes a stored binding; nil for none or a malformed one.
func binding(bind []byte, seen *int64) *serverstore.Binding {
	if bind == nil {
		return nil
	}
	var sec uint64
	if seen != nil && *seen > 0 {
		sec = uint64(*seen)
	}
	bd, err := serverstore.DecodeBinding(bind, sec)
	if err != nil {
		return nil
	}
	return bd
}

// Bound returns the live records bound to user: one SELECT on the usr
// index.
func (b *Backend) Bound(ctx context.Context, user string) (map[string]*serverstore.Binding, error) {
	rows, err := b.pool.Query(ctx, b.qBound, user)
	if err != nil {
		return nil, fmt.Errorf("pgstore: list: %w", err)
	}
	defer rows.Close()
	out := map[string]*serverstore.Binding{}
	for rows.Next() {
		var key string
		var bind []byte
		var seen *int64
		if err := rows.Scan(&key, &bind, &seen); err != nil {
			return nil, fmt.Errorf("pgstore: list: %w", err)
		}
		if bd := binding(bind, seen); bd != nil && bd.User == user {
			out[key] = bd
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("pgstore: list: %w", err)
	}
	return out, nil
}

func entry(meta []byte, vals map[string][]byte, moved bool, data []byte) (*serverstore.Entry, error) {
	switch {
	case moved:
		return &serverstore.Entry{Successor: string(meta)}, serverstore.ErrMoved // a tombstone keeps the successor in meta
	case meta == nil && data != nil:
		return &serverstore.Entry{Legacy: data}, nil
	case vals == nil:
		vals = map[string][]byte{}
	}
	return &serverstore.Entry{Meta: meta, Values: vals}, nil
}

// Create inserts a new row: one statement.
func (b *Backend) Create(ctx context.Context, key string, e *serverstore.Entry, expires time.Time) error {
	var one int
	var usr *string
	var bind []byte
	var seen *int64
	if bd := e.Binding; bd != nil && bd.User != "" {
		u, sec := bd.User, bd.Seen.Unix()
		usr, bind, seen = &u, serverstore.EncodeBinding(bd), &sec
	}
	err := b.pool.QueryRow(ctx, b.qCreate, key, e.Meta, nonNil(e.Values), expires, usr, bind, seen, e.Replaces).Scan(&one)
	if errors.Is(err, pgx.ErrNoRows) {
		return serverstore.ErrExists
	}
	if err != nil {
		return fmt.Errorf("pgstore: create: %w", err)
	}
	return nil
}

func nonNil(m map[string][]byte) map[string][]byte {
	if m == nil {
		return map[string][]byte{}
	}
	return m
}

// Apply writes what a request changed: one statement, which also tells why
// when it wrote nothing.
func (b *Backend) Apply(ctx context.Context, key string, w *serverstore.Write) ([]byte, error) {
	set := map[string][]byte{}
	dels := []string{}
	holds := map[string][]byte{} // encoded as base64 members, as vals stores them
	absent := []string{}
	var checkKeys []string
	for _, c := range w.Changes {
		if c.Delete {
			dels = append(dels, c.Key)
		} else {
			set[c.Key] = c.Value
		}
		if c.Check {
			checkKeys = append(checkKeys, c.Key)
			if c.HadOld {
				holds[c.Key] = c.Old
			} else {
				absent = append(absent, c.Key)
			}
		}
	}
	var written, moved, legacy bool
	var vals map[string][]byte
	var meta []byte
	var seen int64
	var bind []byte
	var usr *string
	if w.User != "" && w.Binding != nil {
		seen, bind, usr = w.Seen.Unix(), serverstore.EncodeBinding(w.Binding), &w.User
	}
	err := b.pool.QueryRow(ctx, b.qApply, key, w.Meta, w.Clear, dels, set, w.Expires, holds, absent, w.Convert,
		w.Header&serverstore.HeaderFlags != 0, w.Header&serverstore.HeaderAbsolute != 0, seen, bind, usr).Scan(&written, &moved, &legacy, &vals, &meta)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return nil, serverstore.ErrNotFound
	case err != nil:
		return nil, fmt.Errorf("pgstore: apply: %w", err)
	case written:
		return meta, nil
	case moved:
		return nil, serverstore.ErrMoved
	case legacy && !w.Convert:
		return nil, serverstore.ErrLegacy
	case !legacy && w.Convert:
		return nil, serverstore.ErrConverted
	}
	c := &driver.ConflictError{Values: map[string][]byte{}}
	for _, k := range checkKeys {
		if v, ok := vals[k]; ok {
			c.Values[k] = v
		}
	}
	return nil, c
}

// Retire replaces the row by a tombstone and returns what it held: one
// statement.
func (b *Backend) Retire(ctx context.Context, key, successor string, until time.Time) (*serverstore.Entry, error) {
	var meta, data, bind []byte
	var vals map[string][]byte
	var moved bool
	var seen *int64
	err := b.pool.QueryRow(ctx, b.qRetire, key, until, []byte(successor)).Scan(&meta, &vals, &moved, &data, &bind, &seen)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, serverstore.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("pgstore: retire: %w", err)
	}
	if moved {
		return &serverstore.Entry{Successor: string(meta)}, serverstore.ErrMoved
	}
	e, err := entry(meta, vals, moved, data)
	if err == nil {
		e.Binding = binding(bind, seen)
	}
	return e, err
}

// Delete removes the row, and returns the successor a tombstone named.
func (b *Backend) Delete(ctx context.Context, key string) (string, error) {
	var moved bool
	var next []byte
	err := b.pool.QueryRow(ctx, b.qDelete, key).Scan(&moved, &next)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return "", nil
	case err != nil:
		return "", fmt.Errorf("pgstore: delete: %w", err)
	case moved:
		return string(next), nil
	}
	return "", nil
}

// Count counts the live rows.
func (b *Backend) Count(ctx context.Context) (int, error) {
	var n int
	if err := b.pool.QueryRow(ctx, `SELECT count(*) FROM `+b.table+` WHERE expires > now() AND NOT moved`).Scan(&n); err != nil {
		return 0, fmt.Errorf("pgstore: count: %w", err)
	}
	return n, nil
}

// Clear deletes every row.
func (b *Backend) Clear(ctx context.Context) error {
	if _, err := b.pool.Exec(ctx, `DELETE FROM `+b.table); err != nil {
		return fmt.Errorf("pgstore: clear: %w", err)
	}
	return nil
}

// Keys yields the keys of the live rows.
func (b *Backend) Keys(ctx context.Context) iter.Seq2[string, error] {
	return func(yield func(string, error) bool) {
		rows, err := b.pool.Query(ctx, `SELECT key FROM `+b.table+` WHERE expires > now() AND NOT moved`)
		if err != nil {
			yield("", fmt.Errorf("pgstore: keys: %w", err))
			return
		}
		defer rows.Close()
		for rows.Next() {
			var k string
			if err := rows.Scan(&k); err != nil {
				yield("", fmt.Errorf("pgstore: keys: %w", err))
				return
			}
			if !yield(k, nil) {
				return
			}
		}
		if err := rows.Err(); err != nil {
			yield("", fmt.Errorf("pgstore: keys: %w", err))
		}
	}
}

// DeleteExpired removes the expired rows and returns how many there were.
// Get never returns them; this reclaims their space.
func (b *Backend) DeleteExpired(ctx context.Context) (int64, error) {
	tag, err := b.pool.Exec(ctx, b.qExpired)
	if err != nil {
		return 0, fmt.Errorf("pgstore: delete expired: %w", err)
	}
	return tag.RowsAffected(), nil
}

// StartCleanup runs DeleteExpired every interval in one goroutine until the
// returned stop function (or Close) is called; stop waits for the goroutine to end.
// errs, if not nil, hears of each failure.
func (b *Backend) StartCleanup(interval time.Duration, errs func(error)) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if _, err := b.DeleteExpired(ctx); err != nil && errs != nil && ctx.Err() == nil {
					errs(err)
				}
			}
		}
	}()
	stop = sync.OnceFunc(func() { cancel(); wg.Wait() })
	b.mu.Lock()
	b.stops = append(b.stops, stop)
	b.mu.Unlock()
	return stop
}
