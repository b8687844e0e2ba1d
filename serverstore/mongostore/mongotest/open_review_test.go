package mongotest_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/crumbs-go/session/serverstore/mongostore"
)

// TestOpenQuotesTLSKeyPassword: Open's "did not answer" error quotes
// the configuration string through params.Redact, which masks only
// parameters whose name ends in lower-case "password": the driver's
// tlsCertificateKeyFilePassword is quoted as written.
func TestOpenQuotesTLSKeyPassword(t *testing.T) {
	const pw = "Secr3tPw"
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "x"}, NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalECPrivateKey(key)
	//lint:ignore SA1019 the driver reads this legacy form
	kblock, err := x509.EncryptPEMBlock(rand.Reader, "EC PRIVATE KEY", kder, []byte(pw), x509.PEMCipherAES128)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "client.pem")
	os.WriteFile(file, append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(kblock)...), 0o600)
	cfg := "mongodb://127.0.0.1:1/app?serverSelectionTimeoutMS=300&crumbs_open_timeout=300ms&tls=true&tlsCertificateKeyFile=" + file +
		"&tlsCertificateKeyFilePassword=" + pw
	_, _, err = mongostore.Open(context.Background(), cfg)
	t.Logf("Open: %v", err)
	if err != nil && strings.Contains(err.Error(), pw) {
		t.Fatalf("Open's error quotes the key file's password")
	}
}

// TestOpenRefusesCamelCaseAfterPassword: a valid MongoDB string whose
// camelCase option follows tlsCertificateKeyFilePassword is refused, with
// advice about an '&' in the password that does not apply.
func TestOpenRefusesCamelCaseAfterPassword(t *testing.T) {
	cfg := "mongodb://127.0.0.1:1/app?tlsCertificateKeyFilePassword=pw&serverSelectionTimeoutMS=300&crumbs_open_timeout=300ms"
	_, _, err := mongostore.Open(context.Background(), cfg)
	t.Logf("Open: %v", err)
	if err != nil && strings.Contains(err.Error(), "not a parameter") {
		t.Fatalf("a well-formed MongoDB string refused by the parser")
	}
}

func TestOpenSRVMessage(t *testing.T) {
	start := time.Now()
	_, _, err := mongostore.Open(context.Background(), "mongodb+srv://cluster0.nonexistent.invalid/app?crumbs_open_timeout=300ms")
	t.Logf("Open after %v: %v", time.Since(start), err)
	if err == nil || !strings.Contains(err.Error(), "SRV") || !strings.Contains(err.Error(), "cluster0.nonexistent.invalid") {
		t.Fatalf("Open = %v: a DNS failure (no SRV record) should say so, naming the host", err)
	}
}
