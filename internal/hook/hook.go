// Package hook lets packages of this module reach what the root package
// keeps unexported, without exporting it: the root fills the functions in
// at init.
package hook

// StoredID returns the ID under which a *session.Session is stored now: its
// old ID while a Regenerate or Destroy of the request is pending (the new
// one is not stored yet), else its ID.
var StoredID func(s any) string
