package main

import (
	"context"
	"encoding/base64"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"
)

// Handle serves an http.Handler behind API Gateway HTTP APIs and Lambda
// function URLs (payload format 2.0). Cookies arrive in the request's
// Cookies array and leave in the response's Cookies array, one entry per
// Set-Cookie: these formats have no multi-value headers, and a Set-Cookie
// joined with commas would reach the browser as one broken cookie, which
// silently breaks a session split across several cookies.
func Handle(h http.Handler) func(context.Context, events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
	return func(ctx context.Context, e events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
		r, err := request(ctx, e)
		if err != nil {
			return events.APIGatewayV2HTTPResponse{StatusCode: http.StatusBadRequest}, nil
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return response(w.Result())
	}
}

func request(ctx context.Context, e events.APIGatewayV2HTTPRequest) (*http.Request, error) {
	body := e.Body
	if e.IsBase64Encoded {
		b, err := base64.StdEncoding.DecodeString(e.Body)
		if err != nil {
			return nil, err
		}
		body = string(b)
	}
	target := e.RawPath
	if target == "" {
		target = "/"
	}
	if e.RawQueryString != "" {
		target += "?" + e.RawQueryString
	}
	method := e.RequestContext.HTTP.Method
	if method == "" {
		method = http.MethodGet
	}
	r, err := http.NewRequestWithContext(ctx, method, target, strings.NewReader(body))
	if err != nil {
		return nil, err
	}
	for k, v := range e.Headers {
		r.Header.Set(k, v)
	}
	if len(e.Cookies) > 0 {
		r.Header.Set("Cookie", strings.Join(e.Cookies, "; "))
	}
	if host := e.Headers["host"]; host != "" {
		r.Host = host
	}
	r.RemoteAddr = e.RequestContext.HTTP.SourceIP + ":0"
	return r, nil
}

func response(res *http.Response) (events.APIGatewayV2HTTPResponse, error) {
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return events.APIGatewayV2HTTPResponse{}, err
	}
	out := events.APIGatewayV2HTTPResponse{
		StatusCode: res.StatusCode,
		Headers:    map[string]string{},
		Cookies:    res.Header.Values("Set-Cookie"),
	}
	for k, v := range res.Header {
		if k != "Set-Cookie" {
			out.Headers[k] = strings.Join(v, ", ")
		}
	}
	if utf8.Valid(b) {
		out.Body = string(b)
	} else {
		out.Body, out.IsBase64Encoded = base64.StdEncoding.EncodeToString(b), true
	}
	return out, nil
}
