package session

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/crumbs-go/session/chunking"
	"github.com/crumbs-go/session/driver"
)

// WithImport makes the Manager import sessions that other libraries wrote,
// so that users keep their sessions when an application moves to crumbs:
// package migrate has the importers of gorilla/sessions' CookieStore and of
// Node's cookie-session. On a request whose handler uses its session and
// that carries no valid crumbs session, each importer is tried in order
// (the crumbs cookie always first); the first that finds a session gives
// its values to a new crumbs session, which the response stores, and the
// response expires the old library's cookies. A forged or expired old
// cookie is rejected like an invalid crumbs cookie: a fresh session, the
// reason logged at Info. Migrations are counted by Manager.Migrations and
// logged at Info, once per migrated session; keep an importer until the
// count stops rising (the old sessions have expired), then remove it. Only
// the cookie transport imports: WithHeaderToken and Manager.Load do not.
// To write an importer, implement driver.Importer.
func WithImport(importers ...driver.Importer) Option {
	return func(c *config) error {
		for i, im := range importers {
			if im == nil {
				return fmt.Errorf("session: WithImport: importer %d is nil", i)
			}
		}
		c.importers = append(c.importers, importers...)
		return nil
	}
}

// Migrations returns how many sessions each Importer of WithImport
// migrated, by Importer name, since the Manager was created: a session
// counts once, when its first crumbs save succeeded. Parallel requests
// that carry the same old cookie each migrate it (the browser keeps the
// last response's cookie), so the count is an upper bound on the users.
func (m *Manager) Migrations() map[string]int64 {
	out := make(map[string]int64, len(m.cfg.importers))
	for i, im := range m.cfg.importers {
		out[im.Name()] += m.migrated[i].Load()
	}
	return out
}

// importing holds, for each Importer, its name and the deletion lines of
// its cookies (with and without Secure), rendered once.
type importing struct {
	names      []string // the cookie names, to spot them in a request
	del, delSc []string
}

func newImporting(ims []driver.Importer) []importing {
	out := make([]importing, len(ims))
	for i, im := range ims {
		for _, c := range im.Cookies() {
			out[i].names = append(out[i].names, c.Name)
			for _, secure := range []bool{false, true} {
				d := http.Cookie{Name: c.Name, Path: c.Path, Domain: c.Domain, Expires: time.Unix(0, 0), MaxAge: -1, Secure: secure, HttpOnly: c.HttpOnly}
				line := d.String()
				if secure {
					out[i].delSc = append(out[i].delSc, line)
				} else {
					out[i].del = append(out[i].del, line)
				}
			}
		}
	}
	return out
}

// checkImporters refuses an Importer cookie that would travel beside the
// crumbs cookies under one of their names: a chunk's name, or the session
// cookie's name with another Path or Domain (the browser would send both,
// and neither could be read).
func checkImporters(c *config, chunks *chunking.Codec) error {
	for _, im := range c.importers {
		for _, ck := range im.Cookies() {
			if !chunks.Owns(ck.Name) {
				continue
			}
			path := ck.Path
			if path == "" {
				path = "/"
			}
			sameDomain := strings.EqualFold(strings.TrimPrefix(ck.Domain, "."), strings.TrimPrefix(c.domain, "."))
			if ck.Name != c.name || path != c.path || !sameDomain {
				return fmt.Errorf("session: WithImport: %s's cookie %q (Path %q, Domain %q) clashes with the crumbs cookies (%q, Path %q, Domain %q); give crumbs another name with WithCookieName, or the old cookie's Path and Domain",
					im.Name(), ck.Name, path, ck.Domain, c.name, c.path, c.domain)
			}
		}
	}
	return nil
}

// importOld runs the Importers on a request that carries no valid crumbs
// session. It reports whether one gave the session its values.
func (m *Manager) importOld(s *Session) bool {
	if !m.imports(s) {
		return false
	}
	for i, im := range m.cfg.importers {
		if !m.carriesOld(s, i, false) {
			continue
		}
		imp, err := m.tryImport(s, im)
		s.foreign = append(s.foreign, i)
		switch {
		case errors.Is(err, driver.ErrNotFound):
			continue
		case err != nil:
			m.log.LogAttrs(s.ctx, slog.LevelInfo, "session: rejected a session of "+im.Name()+"; its cookies expire",
				slog.String("reason", err.Error()), s.where())
			continue
		}
		s.raw = make(map[string][]byte, len(imp.Values))
		dropped := slices.Clone(imp.Dropped)
		for k, v := range imp.Values {
			if !validKey(k) {
				dropped = append(dropped, fmt.Sprintf("key %q: not valid UTF-8 without NUL bytes", k))
				continue
			}
			b, err := m.codec.Marshal(v)
			if err != nil {
				dropped = append(dropped, fmt.Sprintf("key %q (%T): %v", k, v, err))
				continue
			}
			s.raw[k] = b
			s.track(k, true)
		}
		if len(dropped) > 0 {
			slices.Sort(dropped)
			m.log.LogAttrs(s.ctx, slog.LevelWarn, "session: a session of "+im.Name()+" is imported without the values that do not convert",
				slog.String("dropped", strings.Join(dropped, "; ")), s.where())
		}
		if len(s.raw) == 0 {
			return false // nothing to keep: the old cookies only expire
		}
		s.migrated = i + 1
		return true
	}
	return false
}

// tryImport calls im, turning a panic into a rejection: the request's
// bytes are untrusted, and a third-party decoder must not bring the
// request down.
func (m *Manager) tryImport(s *Session, im driver.Importer) (imp *driver.Imported, err error) {
	defer func() {
		if p := recover(); p != nil {
			imp, err = nil, fmt.Errorf("session: %s: the importer panicked (%v): %w", im.Name(), p, driver.ErrInvalid)
		}
	}()
	imp, err = im.Import(s.r)
	if err == nil && imp == nil {
		err = driver.ErrNotFound
	}
	return imp, err
}

// imports reports whether s's request is one the Importers look at: the
// cookie transport's, on its first load.
func (m *Manager) imports(s *Session) bool {
	if len(m.cfg.importers) == 0 || s.r == nil || s.saved != nil {
		return false
	}
	_, ok := s.t.(cookieTransport)
	return ok
}

// carriesOld reports whether the request carries a cookie of Importer i;
// with notOurs, leaving out the names the crumbs cookies use.
func (m *Manager) carriesOld(s *Session, i int, notOurs bool) bool {
	names := m.importing[i].names
	for name := range pairs(s.r) {
		if slices.Contains(names, name) && !(notOurs && m.chunks.Owns(name)) {
			return true
		}
	}
	return false
}

// expireOld, for a request whose crumbs session opened, notes the
// Importers' cookies the request still carries (the browser sent both), so
// that the response expires them again. Names the crumbs cookies use are
// theirs.
func (m *Manager) expireOld(s *Session) {
	if !m.imports(s) {
		return
	}
	for i := range m.cfg.importers {
		if m.carriesOld(s, i, true) {
			s.foreign = append(s.foreign, i)
		}
	}
}

// foreignLines returns the deletion lines of the other libraries' cookies
// this response expires.
func (m *Manager) foreignLines(s *Session, secure bool) []string {
	var out []string
	for _, i := range s.foreign {
		if secure {
			out = append(out, m.importing[i].delSc...)
		} else {
			out = append(out, m.importing[i].del...)
		}
	}
	return out
}

// counted records a migrated session's first successful save.
func (m *Manager) counted(s *Session) {
	if s.migrated == 0 {
		return
	}
	i := s.migrated - 1
	s.migrated = 0
	m.migrated[i].Add(1)
	m.log.LogAttrs(s.ctx, slog.LevelInfo, "session: migrated a session of "+m.cfg.importers[i].Name()+" to crumbs",
		slog.Int("values", len(s.raw)), s.where())
}
