// Package gincontrib makes a gorillastore.Store a gin-contrib/sessions
// Store, for gin applications that use sessions.Sessions and
// sessions.Default:
//
//	gs, err := gorillastore.New(crumbsStore)
//	r.Use(sessions.Sessions("app", gincontrib.Store(gs)))
package gincontrib

import (
	"log/slog"

	ginsessions "github.com/gin-contrib/sessions"

	"github.com/crumbs-go/session/adapters/gorillastore"
)

// Store returns s as a gin-contrib/sessions Store.
func Store(s *gorillastore.Store) ginsessions.Store { return store{s} }

type store struct{ *gorillastore.Store }

var _ ginsessions.Store = store{}

// Options sets the cookie attributes and lifetime of the sessions opened
// afterwards (gorillastore.Store.SetOptions). gin-contrib's Options has no
// error result: options SetOptions refuses (a negative MaxAge, a Path with
// a ';') are logged, and the previous ones stay.
func (s store) Options(o ginsessions.Options) {
	if err := s.SetOptions(*o.ToGorillaOptions()); err != nil {
		slog.Default().Error("gincontrib: Options refused; the previous options stay", slog.String("error", err.Error()))
	}
}
