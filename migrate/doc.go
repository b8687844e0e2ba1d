// Package migrate reads the sessions other libraries left in the browser,
// so that an application moving to crumbs keeps its users signed in: give
// its Importers to session.WithImport.
//
//   - FromGorilla reads a gorilla/sessions CookieStore cookie, with the
//     application's own key pairs, serializer and MaxAge, through
//     gorilla/securecookie itself.
//   - FromCookieSession reads the session and session.sig cookies of
//     Node's cookie-session (keygrip signatures, the app's key list).
//
// A request that carries such a cookie and no crumbs session gets a crumbs
// session with the same values; its response stores it as a crumbs session
// and expires the old cookies with their own Path and Domain. A forged,
// expired or unreadable old cookie is rejected like an invalid crumbs
// cookie: a fresh session, and the reason in the log. Manager.Migrations
// counts the migrated sessions: when the count stops rising, the old
// sessions have expired and the Importer can go.
//
// Express sessions stored by connect-redis are not imported but shared:
// see serverstore/redisstore's Express format.
package migrate
