package session

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/crumbs-go/session/driver"
)

// throttledStore fails each Load as the AWS SDK v2 does for DynamoDB
// (dynamostore): the error text carries the request's RequestID, 52
// characters of A-Z and 0-9, different on every call.
type throttledStore struct {
	nopStore
	errNext atomic.Pointer[error]
}

func requestID() string {
	const abc = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	b := make([]byte, 52)
	for i := range b {
		b[i] = abc[rand.IntN(len(abc))]
	}
	return string(b)
}

func (s *throttledStore) Load(context.Context, string, string, time.Time) (*driver.Record, error) {
	if e := s.errNext.Swap(nil); e != nil {
		return nil, *e
	}
	return nil, fmt.Errorf("operation error DynamoDB: GetItem, https response error StatusCode: 400, RequestID: %s, ProvisionedThroughputExceededException: The level of configured provisioned throughput for the table was exceeded.", requestID())
}

func TestRateLogKindWithRequestIDs(t *testing.T) {
	a, b := kind("RequestID: 5MT5V3KJ9R1B2GBQ6U2I0B0T0FVV4KQNSO5AEMVJF66Q9ASUAAJG"), kind("RequestID: QK2HRN7P9Q5T8V0B1KNJ4L6M3ASUAAJG0F6AEMVJ9R1B2GBQ6U2I")
	t.Logf("kind: %q vs %q", a, b)
	store := &throttledStore{}
	buf, send, closeWindow := storm(t, store)
	for range 40 { // a throttling storm
		send()
	}
	rare := errors.New("operation error DynamoDB: GetItem, https response error StatusCode: 400, RequestID: X, AccessDeniedException: not authorized to perform dynamodb:GetItem")
	store.errNext.Store(&rare)
	send()
	for range 10 { // the storm goes on
		send()
	}
	closeWindow()
	lines := buf.lines()
	if !strings.Contains(strings.Join(lines, "\n"), "AccessDenied") {
		t.Errorf("the only AccessDenied of the window is not in the log (%d lines, all of one throttling kind); its last line:\n%s", len(lines), lines[len(lines)-1])
	}
}
