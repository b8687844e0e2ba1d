// Package interop checks crumbs against the real Node packages it shares
// sessions with or migrates from: express-session 1.19 with connect-redis
// 9 (package serverstore/redisstore/express), and cookie-session 2.1 (migrate's
// importer). The Node side, in node/, is installed with npm ci from its
// committed package-lock.json into a temporary folder by the test, which
// needs node and npm (and Redis on 127.0.0.1:6379): without them it skips,
// except under CI=true, where it fails.
package interop
