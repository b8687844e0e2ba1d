// Package pgstore is a serverstore.Backend on PostgreSQL, through pgx.
//
// Sessions are rows of one table (key, data, version, expires) with an index
// on expires. Get is one SELECT that never returns an expired row; Set is one
// statement that checks the version and writes; Touch is one UPDATE of the
// expiry. Expired rows are removed by DeleteExpired, on demand or on a
// stoppable interval (StartCleanup).
//
// Importing the package registers the "postgres" and "postgresql" schemes
// for session.OpenStore: postgres://user@host:5432/db[?crumbs_table=sessions].
package pgstore

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"net/url"
	"regexp"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/crumbs-go/session"
	"github.com/crumbs-go/session/serverstore"
)

// DefaultTable is the table name when none is given.
const DefaultTable = "crumbs_sessions"

// Backend stores sessions in PostgreSQL. It is safe for concurrent use.
type Backend struct {
	pool  *pgxpool.Pool
	table string // quoted, possibly schema-qualified

	qGet, qCreate, qUpdate, qTouch, qDelete, qExpired string
}

var (
	_ serverstore.Backend  = (*Backend)(nil)
	_ serverstore.Toucher  = (*Backend)(nil)
	_ serverstore.Counter  = (*Backend)(nil)
	_ serverstore.Clearer  = (*Backend)(nil)
	_ serverstore.Iterator = (*Backend)(nil)
)

var identifier = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

// An Option configures a Backend.
type Option func(*config) error

type config struct {
	schema, table string
	create        bool
}

// WithTable sets the table, and optionally its schema (empty: the search
// path). Both must be lower-case SQL identifiers. The default is
// crumbs_sessions on the search path.
func WithTable(schema, table string) Option {
	return func(c *config) error {
		if !identifier.MatchString(table) || (schema != "" && !identifier.MatchString(schema)) {
			return fmt.Errorf("pgstore: WithTable(%q, %q): use lower-case identifiers (letters, digits, _)", schema, table)
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
		return `"` + c.schema + `"."` + c.table + `"`
	}
	return `"` + c.table + `"`
}

func schemaSQL(c config) string {
	t := qualified(c)
	return fmt.Sprintf(`CREATE TABLE IF NOT EXISTS %s (
	key     text        PRIMARY KEY,
	data    bytea       NOT NULL,
	version bigint      NOT NULL,
	expires timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS "%s_expires_idx" ON %s (expires);`, t, c.table, t)
}

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
	}
	t := qualified(c)
	return &Backend{
		pool:  pool,
		table: t,
		qGet:  `SELECT data, version FROM ` + t + ` WHERE key = $1 AND expires > now()`,
		// Create: insert, or take over an expired row; nothing if a live row exists.
		qCreate: `INSERT INTO ` + t + ` AS s (key, data, version, expires) VALUES ($1, $2, 1, $3)
			ON CONFLICT (key) DO UPDATE SET data = EXCLUDED.data, version = 1, expires = EXCLUDED.expires
			WHERE s.expires <= now() RETURNING version`,
		// Update: only over the expected, live version.
		qUpdate: `UPDATE ` + t + ` SET data = $2, version = version + 1, expires = $3
			WHERE key = $1 AND version = $4 AND expires > now() RETURNING version`,
		qTouch:   `UPDATE ` + t + ` SET expires = $2 WHERE key = $1 AND expires > now()`,
		qDelete:  `DELETE FROM ` + t + ` WHERE key = $1`,
		qExpired: `DELETE FROM ` + t + ` WHERE expires <= now()`,
	}, nil
}

func init() {
	open := func(ctx context.Context, config string, secrets [][]byte) (session.Store, error) {
		u, err := url.Parse(config)
		if err != nil {
			return nil, fmt.Errorf("pgstore: %w", err)
		}
		var opts []Option
		q := u.Query()
		if t := q.Get("crumbs_table"); t != "" {
			opts = append(opts, WithTable(q.Get("crumbs_schema"), t))
		}
		q.Del("crumbs_table")
		q.Del("crumbs_schema")
		u.RawQuery = q.Encode()
		pool, err := pgxpool.New(ctx, u.String())
		if err != nil {
			return nil, fmt.Errorf("pgstore: %w", err)
		}
		b, err := New(ctx, pool, opts...)
		if err != nil {
			pool.Close()
			return nil, err
		}
		return serverstore.New(b, secrets)
	}
	session.Register("postgres", open)
	session.Register("postgresql", open)
}

// Get reads a live record: one SELECT.
func (b *Backend) Get(ctx context.Context, key string) ([]byte, uint64, error) {
	var data []byte
	var v int64
	err := b.pool.QueryRow(ctx, b.qGet, key).Scan(&data, &v)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, 0, serverstore.ErrNotFound
	}
	if err != nil {
		return nil, 0, fmt.Errorf("pgstore: get: %w", err)
	}
	return data, uint64(v), nil
}

// Set writes with a version check: one statement; a second query only
// tells a conflict from a vanished row when the write did not happen.
func (b *Backend) Set(ctx context.Context, key string, blob []byte, version uint64, expires time.Time) (uint64, error) {
	var v int64
	var err error
	if version == 0 {
		err = b.pool.QueryRow(ctx, b.qCreate, key, blob, expires).Scan(&v)
	} else {
		err = b.pool.QueryRow(ctx, b.qUpdate, key, blob, expires, int64(version)).Scan(&v)
	}
	if errors.Is(err, pgx.ErrNoRows) {
		if version == 0 {
			return 0, serverstore.ErrConflict
		}
		if _, _, gerr := b.Get(ctx, key); errors.Is(gerr, serverstore.ErrNotFound) {
			return 0, serverstore.ErrNotFound
		}
		return 0, serverstore.ErrConflict
	}
	if err != nil {
		return 0, fmt.Errorf("pgstore: set: %w", err)
	}
	return uint64(v), nil
}

// Delete removes the row.
func (b *Backend) Delete(ctx context.Context, key string) error {
	if _, err := b.pool.Exec(ctx, b.qDelete, key); err != nil {
		return fmt.Errorf("pgstore: delete: %w", err)
	}
	return nil
}

// Touch moves the expiry without rewriting the data.
func (b *Backend) Touch(ctx context.Context, key string, expires time.Time) error {
	tag, err := b.pool.Exec(ctx, b.qTouch, key, expires)
	if err != nil {
		return fmt.Errorf("pgstore: touch: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return serverstore.ErrNotFound
	}
	return nil
}

// Count counts the live rows.
func (b *Backend) Count(ctx context.Context) (int, error) {
	var n int
	if err := b.pool.QueryRow(ctx, `SELECT count(*) FROM `+b.table+` WHERE expires > now()`).Scan(&n); err != nil {
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
		rows, err := b.pool.Query(ctx, `SELECT key FROM `+b.table+` WHERE expires > now()`)
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
// returned stop function is called; stop waits for the goroutine to end.
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
	return func() { cancel(); wg.Wait() }
}
