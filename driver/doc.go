// Package driver is the contract between a session Manager (package
// session) and what plugs into it: a [Store], which keeps session records
// and maps each to a token, and an [Importer], which reads another
// library's session from a request. It plays the part database/sql/driver
// plays for database/sql: store and importer authors implement these
// interfaces; applications use package session and never need this one.
//
// The stores of this module (cookiestore, serverstore and its backends)
// implement Store and register themselves with [Register], so that
// session.OpenStore can build them from a configuration string. Package
// migrate implements Importer for gorilla/sessions and cookie-session.
//
// The conformance suite in serverstore/storetest checks a server backend
// against the semantics described here (storetest.Run), and any other Store
// through a session Manager (storetest.RunStore), with the exceptions its
// format calls for listed by name and reason.
package driver
