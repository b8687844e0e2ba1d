// Package hook lets packages of this module reach what the root package
// keeps unexported, without exporting it: the root fills the functions in
// at init.
package hook

// Stored returns the ID under which a *session.Session is stored now (its
// old ID while a Regenerate or Destroy of the request is pending: the new
// one is not stored yet), or, for a session its retired ID read within a
// grace, the store's handle of the session read.
var Stored func(s any) (id, handle string)
