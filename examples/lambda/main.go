// Command lambda serves the crumbs demo's handlers from AWS Lambda, behind
// an API Gateway HTTP API or a function URL, in cookie mode by default: no
// storage at all. Set CRUMBS_SECRETS (comma-separated base64 secrets of 32
// bytes or more, newest first: openssl rand -base64 32; see
// session.ParseSecrets) in the function's configuration; CRUMBS_STORE may
// name another backend (see the demo).
//
// With DynamoDB, sessions live in a table that every instance of the
// function shares, and the cookie carries only a signed ID:
//
//	CRUMBS_STORE=dynamodb://crumbs_sessions?region=eu-west-1
//
// The function's role needs dynamodb:GetItem, PutItem, UpdateItem,
// DeleteItem and Query on the table and its index; create the table once
// (dynamostore.CreateTable, or the CloudFormation in its documentation).
// The region defaults to the function's own (AWS_REGION), so
// dynamodb://crumbs_sessions is enough. Each request that changes its
// session costs one strongly consistent read and one write.
package main

import (
	"context"
	"log"
	"os"
	"time"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/crumbs-go/session"
	_ "github.com/crumbs-go/session/cookiestore"
	"github.com/crumbs-go/session/examples/demo/app"
	_ "github.com/crumbs-go/session/serverstore"
	_ "github.com/crumbs-go/session/serverstore/dynamostore"
)

const cookieName = "demo"

// newManager builds the middleware from the environment. maxChunks bounds
// the cookies of one session; API Gateway HTTP APIs allow 10 KiB of request
// headers in all, so keep it small.
func newManager(ctx context.Context, maxChunks int) (*session.Manager, error) {
	secrets, err := session.ParseSecrets(os.Getenv("CRUMBS_SECRETS"))
	if err != nil {
		return nil, err
	}
	config := os.Getenv("CRUMBS_STORE")
	if config == "" {
		config = "cookie"
	}
	store, err := session.OpenStore(ctx, config, secrets)
	if err != nil {
		return nil, err
	}
	return session.New(store,
		session.WithCookieName(cookieName),
		session.WithMaxChunks(maxChunks),
		session.WithCookie(session.Cookie{Secure: session.SecureAlways}), // Lambda URLs and API Gateway are HTTPS
		session.WithIdleTimeout(2*time.Hour),
		session.WithErrorHandler(app.ErrorHandler))
}

func main() {
	m, err := newManager(context.Background(), 2)
	if err != nil {
		log.Fatal(err)
	}
	lambda.Start(Handle(m.Handler(app.Handler(cookieName, nil))))
}
