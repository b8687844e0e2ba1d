package session

import "time"

// SetClock replaces the Manager's clock, for tests of deadlines.
func (m *Manager) SetClock(now func() time.Time) { m.now = now }
