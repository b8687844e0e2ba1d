// Package timex holds the time rules shared by the packages: the longest
// session and the wire form of a deadline.
package timex

import (
	"fmt"
	"time"
)

// MaxAge is the longest a session lasts and the longest Max-Age browsers
// keep: 400 days (RFC 6265bis).
const MaxAge = 400 * 24 * time.Hour

// Unix encodes t as whole Unix seconds for the wire: the zero Time is 0. A
// time before 1970 is an error.
func Unix(t time.Time) (uint64, error) {
	if t.IsZero() {
		return 0, nil
	}
	s := t.Unix()
	if s < 0 {
		return 0, fmt.Errorf("time %v is before 1970", t)
	}
	return uint64(s), nil
}

// FromUnix decodes what Unix wrote: 0 is the zero Time.
func FromUnix(s uint64) time.Time {
	if s == 0 {
		return time.Time{}
	}
	return time.Unix(int64(s), 0)
}
