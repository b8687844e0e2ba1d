package redisstore_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/crumbs-go/session"
	"github.com/crumbs-go/session/serverstore/redisstore/internal/redistest"
	"github.com/crumbs-go/session/serverstore/storetest"
)

// selfSigned writes a certificate for 127.0.0.1 and its key to dir.
func selfSigned(t *testing.T, dir string) (cert, key string) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "crumbs test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	cert, key = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(key, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
	return cert, key
}

// TestOpenStoreTLS: rediss:// reaches a TLS-only port of a redis-server
// the test starts; a certificate the system does not trust fails the open
// with an error that says so, unless skip_verify=true.
func TestOpenStoreTLS(t *testing.T) {
	cert, key := selfSigned(t, t.TempDir())
	var srv *redistest.Server
	var tlsPort int
	var err error
	for range 3 { // a TLS port taken meanwhile: again with another
		l, lerr := net.Listen("tcp", "127.0.0.1:0")
		if lerr != nil {
			t.Fatal(lerr)
		}
		tlsPort = l.Addr().(*net.TCPAddr).Port
		l.Close()
		if srv, err = redistest.StartServer("--tls-port", strconv.Itoa(tlsPort), "--tls-cert-file", cert, "--tls-key-file", key, "--tls-auth-clients", "no"); err == nil {
			break
		}
	}
	if err != nil {
		storetest.Unavailable(t, "a local redis-server with TLS", err)
	}
	t.Cleanup(srv.Stop)
	tlsAddr := "127.0.0.1:" + strconv.Itoa(tlsPort)
	plain := redis.NewClient(&redis.Options{Addr: srv.Addr})
	t.Cleanup(func() { plain.Close() })
	p := uniquePrefix(t)
	openAndUse(t, "rediss://"+tlsAddr+"/0?skip_verify=true&crumbs_prefix="+p, p, plain)
	_, err = session.OpenStore(context.Background(), "rediss://"+tlsAddr+"/0?crumbs_open_timeout=2s", secrets)
	if err == nil || !strings.Contains(err.Error(), "did not answer") || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("an untrusted certificate: %v", err)
	}
	// Plain text to the TLS port is not a Redis server either.
	if _, err := session.OpenStore(context.Background(), "redis://"+tlsAddr+"/0?crumbs_open_timeout=1s", secrets); err == nil {
		t.Fatal("plain text to the TLS port opened")
	}
}
