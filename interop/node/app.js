// The Express side of crumbs' interop tests (interop/express_test.go).
// CONFIG (JSON) lists the apps to start:
//   {"redis": "redis://127.0.0.1:6379",
//    "express": [{"name": "default", "secrets": ["…"], "prefix": "sess:", "maxAge": 3600000,
//                 "saveUninitialized": false, "rolling": false, "resave": false,
//                 "secure": false, "sameSite": "lax", "priority": "high"}, …],
//    "cookieSession": {"keys": ["…"]}}
// Each listens on 127.0.0.1, on a port of its own; when all listen, one
// line of JSON on stdout maps their names to their ports.
'use strict';
const express = require('express');
const session = require('express-session');
const { RedisStore } = require('connect-redis');
const { createClient } = require('redis');
const cookieSession = require('cookie-session');

const config = JSON.parse(process.env.CONFIG);

function values(s) {
  const out = {};
  for (const k of Object.keys(s || {})) if (k !== 'cookie') out[k] = s[k];
  return out;
}

async function main() {
  const client = createClient({ url: config.redis });
  client.on('error', (e) => console.error('redis:', e.message));
  await client.connect();
  const ports = {};
  const listen = (name, app) => new Promise((resolve) => {
    const srv = app.listen(0, '127.0.0.1', () => { ports[name] = srv.address().port; resolve(); });
  });

  for (const c of config.express || []) {
    const app = express();
    app.use(session({
      name: 'connect.sid',
      secret: c.secrets,
      store: new RedisStore({ client, prefix: c.prefix }),
      resave: !!c.resave,
      rolling: !!c.rolling,
      saveUninitialized: !!c.saveUninitialized,
      cookie: { maxAge: c.maxAge || undefined, sameSite: c.sameSite || 'lax', secure: !!c.secure, priority: c.priority || undefined },
    }));
    if (c.secure) app.set('trust proxy', 1); // X-Forwarded-Proto: https makes req.secure
    // POST /remember?ms=…: this session's own cookie.maxAge ("remember me").
    app.post('/remember', (req, res) => {
      req.session.cookie.maxAge = Number(req.query.ms);
      req.session.remembered = true;
      res.json({ id: req.sessionID, values: values(req.session), cookie: req.session.cookie });
    });
    // GET /whoami: the session's values and ID, changing nothing (a touch).
    app.get('/whoami', (req, res) => res.json({ id: req.sessionID, values: values(req.session), cookie: req.session.cookie }));
    // POST /login?user=…: sign in, as Express apps do (a new ID, then the user).
    app.post('/login', (req, res, next) => req.session.regenerate((err) => {
      if (err) return next(err);
      req.session.user = req.query.user;
      res.json({ id: req.sessionID, values: values(req.session) });
    }));
    // POST /set?k=…&v=…: one value (a string, or JSON with json=1).
    app.post('/set', (req, res) => {
      req.session[req.query.k] = req.query.json ? JSON.parse(req.query.v) : req.query.v;
      res.json({ id: req.sessionID, values: values(req.session) });
    });
    app.post('/logout', (req, res, next) => req.session.destroy((err) => err ? next(err) : res.json({ ok: true })));
    app.use((err, req, res, next) => { console.error(err); res.status(500).json({ error: String(err) }); });
    await listen(c.name, app);
  }

  if (config.cookieSession) {
    const app = express();
    app.use(cookieSession({ name: 'session', keys: config.cookieSession.keys }));
    // GET /login?user=…: what a cookie-session app stores at sign-in.
    app.get('/login', (req, res) => {
      req.session.user = req.query.user;
      req.session.n = 42;
      req.session.prefs = { theme: 'dark', langs: ['en', 'fr'] };
      res.json(req.session);
    });
    await listen('cookieSession', app);
  }
  process.stdout.write(JSON.stringify(ports) + '\n');
}

main().catch((e) => { console.error(e); process.exit(1); });
