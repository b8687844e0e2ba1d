package driver

// A CookieFormat is a Store whose token is the whole value of one cookie in
// another library's format, such as express-session's signed connect.sid,
// which crumbs' chunks would refuse. For such a store the Manager reads the
// first cookie of its name, as express-session does, at most 4096 bytes,
// hands its value to Load as it came, and sends Save's token as the
// cookie's value, in one cookie, never split. CookieFormat names the
// format, for the log.
type CookieFormat interface {
	Store
	CookieFormat() string
}
