package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/crumbs-go/session/examples/demo/app"
	"github.com/crumbs-go/session/internal/leakcheck"
	"github.com/crumbs-go/session/serverstore/dynamostore"
	"github.com/crumbs-go/session/serverstore/dynamostore/dynamotest"
)

// event builds a payload format 2.0 event the way API Gateway sends it:
// decoded from JSON, cookies in their own array.
func event(t *testing.T, method, path, body string, cookies []string) events.APIGatewayV2HTTPRequest {
	raw, _ := json.Marshal(map[string]any{
		"version":         "2.0",
		"routeKey":        "$default",
		"rawPath":         path,
		"rawQueryString":  "",
		"cookies":         cookies,
		"headers":         map[string]string{"host": "abc.lambda-url.eu-west-1.on.aws", "content-type": "application/x-www-form-urlencoded"},
		"requestContext":  map[string]any{"http": map[string]any{"method": method, "path": path, "sourceIp": "203.0.113.7"}},
		"body":            body,
		"isBase64Encoded": false,
	})
	var e events.APIGatewayV2HTTPRequest
	if err := json.Unmarshal(raw, &e); err != nil {
		t.Fatal(err)
	}
	return e
}

// TestChunkCookiesSurviveLambda: a response that writes 3 chunk cookies and
// expires 2 stale ones returns all 5 as separate entries, and a request that
// carries the 3 chunks reads the session back.
func TestChunkCookiesSurviveLambda(t *testing.T) {
	os.Setenv("CRUMBS_SECRETS", "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=") // base64 of 32 bytes
	m, err := newManager(context.Background(), 5)                               // 3 chunks written; the request's 3 and 4 expired
	if err != nil {
		t.Fatal(err)
	}
	handle := Handle(m.Handler(app.Handler(cookieName, nil)))
	var jar []string
	var res events.APIGatewayV2HTTPResponse
	for i := 0; i < 20 && len(jar) < 3; i++ {
		res, err = handle(context.Background(), event(t, "POST", "/cart/add", "n=500", jar))
		if err != nil || res.StatusCode != 303 {
			t.Fatalf("POST /cart/add: %d, %v", res.StatusCode, err)
		}
		jar = jar[:0]
		for _, c := range res.Cookies {
			if !strings.Contains(c, "Max-Age=0") {
				jar = append(jar, strings.SplitN(c, ";", 2)[0])
			}
		}
	}
	if len(jar) != 3 {
		t.Fatalf("the session took %d cookies, want 3", len(jar))
	}
	// Chunks a parallel response left beyond the count: the next response
	// writes the session's chunks and expires those two.
	res, err = handle(context.Background(), event(t, "POST", "/cart/add", "n=1", append(jar, "demo.3=AAAA", "demo.4=AAAA")))
	if err != nil || res.StatusCode != 303 {
		t.Fatalf("POST /cart/add: %d, %v", res.StatusCode, err)
	}
	jar, expired := jar[:0], 0
	for _, c := range res.Cookies {
		if strings.Contains(c, "Max-Age=0") {
			expired++
		} else {
			jar = append(jar, strings.SplitN(c, ";", 2)[0])
		}
	}
	if len(jar) != 3 || expired != 2 {
		t.Fatalf("the response carries %d chunks and %d expiries, want 3 and 2: %.200q", len(jar), expired, res.Cookies)
	}
	for _, c := range res.Cookies {
		if strings.Count(c, "=") < 2 || strings.Contains(c, ", demo") {
			t.Fatalf("a cookie entry is not one whole Set-Cookie line: %.80q", c)
		}
	}
	if _, joined := res.Headers["Set-Cookie"]; joined {
		t.Fatal("Set-Cookie also went out as a (comma-joined) header")
	}
	res, err = handle(context.Background(), event(t, "GET", "/", "", jar))
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("GET /: %d, %v", res.StatusCode, err)
	}
	items := regexp.MustCompile(`id="items">(\d+)<`).FindStringSubmatch(res.Body)
	chunks := regexp.MustCompile(`id="chunks">(\d+)<`).FindStringSubmatch(res.Body)
	if items == nil || items[1] == "0" || chunks == nil || chunks[1] != "3" {
		t.Fatalf("the request with 3 chunks did not read the session: items %v, chunks %v", items, chunks)
	}
}

// TestDynamoDBAcrossInstances: with CRUMBS_STORE naming a DynamoDB table,
// a cart filled through one instance of the function is read through
// another (a cold start elsewhere), and the cookie carries an ID only.
func TestDynamoDBAcrossInstances(t *testing.T) {
	c := dynamotest.Client(t)
	ctx := context.Background()
	table := fmt.Sprintf("crumbs_lambda_%d", time.Now().UnixNano())
	if err := dynamostore.CreateTable(ctx, c, table); err != nil && !errors.Is(err, errors.ErrUnsupported) {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.DeleteTable(context.Background(), &dynamodb.DeleteTableInput{TableName: &table}) })
	os.Setenv("CRUMBS_SECRETS", "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=")
	os.Setenv("CRUMBS_STORE", "dynamodb://"+table+"?region=us-east-1&endpoint="+url.QueryEscape(dynamotest.Start(t)))
	defer os.Unsetenv("CRUMBS_STORE")
	instance := func() func(context.Context, events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
		m, err := newManager(ctx, 2)
		if err != nil {
			t.Fatal(err)
		}
		return Handle(m.Handler(app.Handler(cookieName, nil)))
	}
	a, b := instance(), instance()
	res, err := a(ctx, event(t, "POST", "/cart/add", "n=7", nil))
	if err != nil || res.StatusCode != 303 || len(res.Cookies) != 1 {
		t.Fatalf("POST /cart/add on instance a: %d, %v, cookies %q", res.StatusCode, err, res.Cookies)
	}
	cookie := strings.SplitN(res.Cookies[0], ";", 2)[0]
	if len(cookie) > 120 {
		t.Fatalf("the cookie holds %d bytes: more than a signed ID", len(cookie))
	}
	res, err = b(ctx, event(t, "GET", "/", "", []string{cookie}))
	items := regexp.MustCompile(`id="items">(\d+)<`).FindStringSubmatch(res.Body)
	if err != nil || res.StatusCode != 200 || items == nil || items[1] != "7" {
		t.Fatalf("GET / on instance b: %d, %v, items %v", res.StatusCode, err, items)
	}
	out, err := c.Scan(ctx, &dynamodb.ScanInput{TableName: &table})
	if err != nil || len(out.Items) != 1 {
		t.Fatalf("the table holds %d items, %v; want the one session", len(out.Items), err)
	}
}

func TestMain(m *testing.M) {
	dynamotest.SetEnv()
	code := m.Run()
	dynamotest.Stop()
	os.Exit(leakcheck.Verify(code))
}
