package fuzz_test

import (
	"testing"

	"github.com/crumbs-go/session/fuzz"
)

// FuzzMemory holds the memory backend to the model, its clock the
// scenario's: the target where sub-minute finds happen. Every feature is
// on: hostile clients, parallel groups, header tokens.
func FuzzMemory(f *testing.F) {
	seed(f)
	f.Fuzz(func(t *testing.T, header bool, data []byte) {
		fuzz.Run(t, backend("memory"), data, header, true, true)
	})
}

// FuzzCookie holds cookie mode to the model.
func FuzzCookie(f *testing.F) {
	seed(f)
	f.Fuzz(func(t *testing.T, header bool, data []byte) {
		fuzz.Run(t, backend("cookie"), data, header, true, true)
	})
}

// FuzzCookieRevocation holds cookie mode with a revocation store to the
// model: copied and replayed cookies of ended sessions are refused.
// Parallel groups stay off: a write after a parallel request ended the
// session is checked again or not by the clock's fraction of a second
// (cookiestore's checkedHere), which the model does not follow.
func FuzzCookieRevocation(f *testing.F) {
	seed(f)
	f.Fuzz(func(t *testing.T, header bool, data []byte) {
		fuzz.Run(t, backend("cookie (revocation)"), data, header, false, true)
	})
}

// FuzzRedis and FuzzPostgres hold the real servers to the model (their
// engines expire by their own clocks; see fuzz.Config.EngineClock).
func FuzzRedis(f *testing.F) {
	seed(f)
	f.Fuzz(func(t *testing.T, header bool, data []byte) {
		fuzz.Run(t, backend("redis"), data, header, true, true)
	})
}

// FuzzExpress holds the Express format (the module
// serverstore/redisstore/express) to the model's Express variant:
// express-session's semantics (spec/express-v1.md), cookies only.
func FuzzExpress(f *testing.F) {
	seed(f)
	for _, s := range [][]byte{
		{3, 3, 0, 0, 0, 0, 0, 1, 0, 0, 1, 10}, // a Destroy on a request without a cookie sets none
		// "remember me" on a stored session (SetLifetime(1h), idle 30 s) is the session's span: a later write keeps it
		{3, 4, 0, 0, 0, 0, 0, 3, 0, 0, 1, 1, 0, 0, 0, 0, 1, 12, 3, 0, 0, 1, 1, 1, 1},
		// ... and at a login: SetLifetime, Regenerate, SetLifetime
		{3, 4, 1, 0, 0, 0, 0, 2, 0, 0, 1, 8, 0, 0, 3, 12, 3, 9, 1, 12, 3},
	} {
		f.Add(false, s)
	}
	f.Fuzz(func(t *testing.T, _ bool, data []byte) {
		fuzz.Run(t, backend("express"), data, false, true, true)
	})
}

func FuzzPostgres(f *testing.F) {
	seed(f)
	f.Fuzz(func(t *testing.T, header bool, data []byte) {
		fuzz.Run(t, backend("postgres"), data, header, true, true)
	})
}

// FuzzDynamoDB holds the DynamoDB store to the model, on dynalite (the
// store enforces expiry on read, by real time).
func FuzzDynamoDB(f *testing.F) {
	seed(f)
	f.Fuzz(func(t *testing.T, header bool, data []byte) {
		fuzz.Run(t, backend("dynamodb"), data, header, true, true)
	})
}

// FuzzMongo holds the MongoDB store to the model, on FerretDB over
// PostgreSQL (the store enforces expiry on read, by real time).
func FuzzMongo(f *testing.F) {
	seed(f)
	f.Fuzz(func(t *testing.T, header bool, data []byte) {
		fuzz.Run(t, backend("mongodb"), data, header, true, true)
	})
}

// FuzzMongoDifferential runs each scenario on memory and on the MongoDB
// store (FerretDB), both by real time, and compares what they answer: the
// campaign target of the pair FuzzDifferential reaches by its first bytes
// 214 to 227.
func FuzzMongoDifferential(f *testing.F) {
	seed(f)
	f.Fuzz(func(t *testing.T, header bool, data []byte) {
		fuzz.RunDifferential(t, backend("memory (real engine clock)"), backend("mongodb"), data, header)
	})
}

// FuzzSpill holds the spill-over store, every session on the server, over
// memory to the model.
func FuzzSpill(f *testing.F) {
	seed(f)
	f.Fuzz(func(t *testing.T, header bool, data []byte) {
		fuzz.Run(t, backend("spill (memory)"), data, header, true, true)
	})
}

// FuzzSpillRedis holds the spill-over store, every session on the server,
// over Redis to the model.
func FuzzSpillRedis(f *testing.F) {
	seed(f)
	f.Fuzz(func(t *testing.T, header bool, data []byte) {
		fuzz.Run(t, backend("spill (redis)"), data, header, true, true)
	})
}

// FuzzSpillDifferential runs one scenario on memory and on the spill-over
// store (every session on the server) over memory, or over Redis (a first
// byte that is odd), which must agree.
func FuzzSpillDifferential(f *testing.F) {
	seed(f)
	f.Fuzz(func(t *testing.T, header bool, data []byte) {
		// As FuzzDifferential's server pairs: RunDifferential holds both
		// to the model with the backends' expiry by real time.
		a, b := backend("memory (real engine clock)"), backend("spill (memory, real engine clock)")
		if len(data) > 0 && data[0]%2 == 1 {
			a, b = backend("memory (real engine clock)"), backend("spill (redis)")
		}
		fuzz.RunDifferential(t, a, b, data, header)
	})
}

// seed adds the seed corpus: an empty scenario, and one scenario per
// feature (hand-made in review: each kills the one-line defect it names
// within the CI pass, which fuzzing from nothing did not always do).
func seed(f *testing.F) {
	f.Add(false, []byte{})
	f.Add(false, []byte{1, 1, 0, 0, 1, 2, 0, 0, 3, 1, 0, 1, 5, 8, 8, 8, 0, 1, 3, 1})
	for _, s := range [][]byte{
		{0, 3, 0, 0, 0, 0, 0, 2, 0, 0, 1, 1, 0, 5, 0, 0, 1, 11},                      // Touch refreshes
		{0, 3, 0, 0, 0, 0, 0, 3, 0, 0, 1, 1, 0, 5, 0, 11, 0, 0, 1, 0, 0},             // a token of the previous secret is sent again
		{3, 3, 0, 0, 0, 0, 0, 3, 0, 0, 1, 1, 0, 5, 0, 7, 128, 0, 0, 1, 0, 0},         // idle 30 s: a read past the half-idle mark refreshes
		{3, 3, 0, 0, 0, 0, 0, 3, 0, 0, 1, 1, 0, 5, 0, 7, 141, 0, 0, 1, 0, 0},         // idle 30 s: a read at exactly half
		{0, 3, 0, 0, 0, 0, 0, 2, 0, 0, 1, 1, 0, 5, 0, 0, 1, 12, 2},                   // SetLifetime is stored
		{0, 3, 0, 0, 0, 0, 0, 2, 0, 0, 1, 1, 0, 5, 0, 14, 0, 1, 1, 0, 1, 0, 0, 0, 0}, // parallel Updates
		{0, 3, 0, 0, 0, 0, 0, 1, 0, 0, 2, 6, 1, 7},                                   // AddFlash, Flashes
		// a login, then a logout (with or without a change first) through the retired token
		{0, 3, 0, 0, 0, 0, 0, 5, 0, 0, 1, 1, 0, 5, 0, 12, 4, 0, 0, 0, 1, 9, 1, 0, 12, 5, 0, 0, 0, 1, 10},
		{0, 3, 0, 0, 0, 0, 1, 7, 0, 0, 1, 1, 0, 5, 0, 12, 4, 0, 0, 0, 1, 9, 1, 1, 12, 6, 0, 0, 12, 5, 0, 0, 0, 2, 1, 1, 7, 10, 1, 0, 1, 0, 0},
		// a login, the tombstone's lifetime, then the retired token
		{0, 3, 0, 0, 0, 0, 0, 6, 0, 0, 1, 1, 0, 5, 0, 12, 4, 0, 0, 0, 1, 9, 1, 0, 7, 6, 0, 12, 5, 0, 0, 0, 1, 0, 0},
		// WithResave: a read that loaded before a parallel Set saved
		{0, 3, 2, 0, 0, 0, 0, 2, 0, 0, 2, 1, 0, 5, 8, 0, 14, 0, 3, 1, 0, 1, 1, 0, 0, 0},
	} {
		f.Add(false, s)
	}
}

// FuzzConcurrent: bursts of up to 32 parallel requests on real goroutines
// over two, four or one instance per request, on memory (and Redis and
// PostgreSQL, chosen by the first byte).
func FuzzConcurrent(f *testing.F) {
	// Mixed bursts of 16 (sets, Updates, flashes, reads, touches; half Updates): over two
	// instances on memory, four on Redis, one per request on PostgreSQL.
	for _, s := range []struct{ which, instances byte }{{0, 0}, {3, 1}, {4, 2}, {200, 1}, {228, 1}} {
		data := []byte{1, 1, 0, 0, 0, 0, 14, s.instances}
		for i := range 16 {
			data = append(data, byte(i%8))
		}
		f.Add(s.which, data)
	}
	f.Fuzz(func(t *testing.T, which byte, data []byte) {
		// which below 200 keeps the mapping the committed inputs were found
		// under; 200 to 227 is DynamoDB's, 228 and above MongoDB's.
		names := []string{"memory", "memory", "memory", "redis", "postgres"}
		name := names[int(which)%len(names)]
		switch {
		case which >= 228:
			name = "mongodb"
		case which >= 200:
			name = "dynamodb"
		}
		fuzz.RunConcurrent(t, backend(name), data)
	})
}

// FuzzDifferential runs one scenario on two backends that must agree.
func FuzzDifferential(f *testing.F) {
	seed(f)
	f.Add(false, []byte{200, 3, 0, 0, 0, 0, 0, 2, 0, 0, 1, 1, 0, 5, 0, 0, 1, 11}) // memory against DynamoDB
	f.Add(false, []byte{214, 3, 0, 0, 0, 0, 0, 2, 0, 0, 1, 1, 0, 5, 0, 0, 1, 11}) // memory against MongoDB
	f.Add(false, []byte{228, 3, 0, 0, 0, 0, 0, 2, 0, 0, 1, 1, 0, 5, 0, 0, 1, 11}) // memory against spill-over on memory
	f.Add(false, []byte{229, 3, 0, 0, 0, 0, 0, 2, 0, 0, 1, 1, 0, 5, 0, 0, 1, 11}) // memory against spill-over on Redis
	pairs := [][2]string{
		{"memory (real engine clock)", "redis"},
		{"memory (real engine clock)", "postgres"},
		{"cookie", "memory"},
		{"express", "express (from its configuration string)"},
	}
	f.Fuzz(func(t *testing.T, header bool, data []byte) {
		// A first byte below 200 keeps the mapping the committed inputs
		// were found under; 200 to 213 is memory against DynamoDB, 214 to
		// 227 memory against MongoDB; 228 and
		// above memory against the spill-over store (every session on the
		// server) over memory (even) or Redis (odd).
		p := pairs[0]
		if len(data) > 0 {
			p = pairs[int(data[0])%len(pairs)]
			switch {
			case data[0] >= 228 && data[0]%2 == 0:
				p = [2]string{"memory (real engine clock)", "spill (memory, real engine clock)"}
			case data[0] >= 228:
				p = [2]string{"memory (real engine clock)", "spill (redis)"}
			case data[0] >= 214:
				p = [2]string{"memory (real engine clock)", "mongodb"}
			case data[0] >= 200:
				p = [2]string{"memory (real engine clock)", "dynamodb"}
			}
		}
		fuzz.RunDifferential(t, backend(p[0]), backend(p[1]), data, header)
	})
}
