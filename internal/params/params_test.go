package params_test

import (
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/crumbs-go/session/internal/params"
)

func TestEachInOrderOnce(t *testing.T) {
	q, _ := url.ParseQuery("crumbs_b=2&other=x&crumbs_a=1")
	var seen []string
	err := params.Each("p", q, params.Crumbs, func(name, v string) error { seen = append(seen, name+"="+v); return nil })
	if err != nil || strings.Join(seen, ",") != "crumbs_a=1,crumbs_b=2" || q.Encode() != "other=x" {
		t.Fatalf("Each: %v, %v, left %q", seen, err, q.Encode())
	}
	q, _ = url.ParseQuery("crumbs_a=1&crumbs_a=2")
	if err := params.Each("p", q, params.Crumbs, func(string, string) error { return nil }); err == nil || !strings.Contains(err.Error(), "given 2 times") {
		t.Fatalf("a repeated parameter: %v", err)
	}
}

func TestValues(t *testing.T) {
	if _, err := params.Bool("p", "crumbs_x", "maybe"); err == nil || !strings.Contains(err.Error(), "crumbs_x") {
		t.Fatal(err)
	}
	if d, err := params.Duration("p", "crumbs_d", "2s", time.Second); err != nil || d != 2*time.Second {
		t.Fatal(d, err)
	}
	if _, err := params.Duration("p", "crumbs_d", "500us", time.Millisecond); err == nil {
		t.Fatal("under the minimum")
	}
}

func TestNoPasswordInMessages(t *testing.T) {
	if _, err := params.Parse("p", "redis://u:pw%zz@h/0"); err == nil || strings.Contains(err.Error(), "pw") {
		t.Fatalf("Parse: %v", err)
	}
	u, _ := url.Parse("redis://u:top-secret@h/0?password=top-secret&sentinel_password=top-secret&db=1")
	if r := params.Redact(u); strings.Contains(r, "top-secret") || !strings.Contains(r, "db=1") {
		t.Fatalf("Redact = %q", r)
	}
}

// TestMongoStyleParameters: camelCase parameter names after a password
// parameter are parameters (MongoDB's), and Redact masks a password
// parameter whatever its case.
func TestMongoStyleParameters(t *testing.T) {
	cfg := "mongodb://h/app?tlsCertificateKeyFilePassword=Secr3t&serverSelectionTimeoutMS=300"
	u, err := params.Parse("mongostore", cfg)
	if err != nil {
		t.Fatalf("Parse(%q) = %v", cfg, err)
	}
	if r := params.Redact(u); strings.Contains(r, "Secr3t") {
		t.Errorf("Redact = %q: quotes the password", r)
	}
	if _, err := params.Parse("redisstore", "redis://h/0?password=ab&Cd=ef"); err == nil {
		t.Error("a capitalised bare word after a password parameter passed as a parameter")
	}
}

// TestAmpersandInPasswordByScheme: a camelCase word after a password
// parameter is a parameter only where the scheme's driver has it (MongoDB's
// options); elsewhere, and for a word MongoDB does not know, it is the rest
// of a password with an unescaped '&', refused, and hidden whole.
func TestAmpersandInPasswordByScheme(t *testing.T) {
	for _, cfg := range []string{
		"redis://127.0.0.1:1/0?password=s3cr&etPart=Value99",
		"postgres://postgres@127.0.0.1:5432/test?sslmode=disable&password=s3cr&etPart=Value99",
		"mongodb://h/app?tlsCertificateKeyFilePassword=s3cr&etPart=Value99",
	} {
		if _, err := params.Parse("x", cfg); err == nil || !strings.Contains(err.Error(), "%26") {
			t.Errorf("Parse(%q) = %v, want the '&' in the password refused", cfg, err)
		}
		got := params.Secrets(cfg)
		if !slices.Contains(got, "s3cr&etPart=Value99") {
			t.Errorf("Secrets(%q) = %q, want the whole password", cfg, got)
		}
	}
	if _, err := params.Parse("x", "mongodb://h/app?tlsCertificateKeyFilePassword=s3cr&serverSelectionTimeoutMS=300"); err != nil {
		t.Errorf("a MongoDB option after a password: %v", err)
	}
}
