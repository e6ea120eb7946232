package kafka

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/k3sync/k3sync/internal/config"
)

// TestTLSAndSCRAM connects as config says: TLS verified against a CA file,
// and a SCRAM-SHA-512 login whose password comes from the environment.
func TestTLSAndSCRAM(t *testing.T) {
	dir := t.TempDir()
	caFile, serverCert := certificates(t, dir)
	c := cluster(t, kfake.TLS(&tls.Config{Certificates: []tls.Certificate{serverCert}, MinVersion: tls.VersionTLS12}),
		kfake.EnableSASL(), kfake.Superuser("SCRAM-SHA-512", "k3sync", "from-env"))
	t.Setenv("K3SYNC_TEST_KAFKA_PASSWORD", "from-env")
	cfg := config.Kafka{
		Brokers: c.ListenAddrs(),
		TLS:     &config.TLS{CAFile: caFile},
		SASL:    &config.SASL{Mechanism: "SCRAM-SHA-512", Username: "k3sync", Secret: config.Secret{PasswordEnv: "K3SYNC_TEST_KAFKA_PASSWORD"}},
	}
	pool := x509.NewCertPool()
	pem, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	pool.AppendCertsFromPEM(pem)
	e := envOn(t, c, cfg,
		kgo.DialTLSConfig(&tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}),
		kgo.SASL(scram.Auth{User: "k3sync", Pass: "from-env"}.AsSha512Mechanism()))
	d := example(t)
	e.apply(t, d.Request())
	if again := e.plan(t, d.Request()); len(again) != 0 {
		t.Errorf("not converged:\n%s", planText(t, again))
	}
	if got := e.topics(t)["payments.transactions"]; got != 12 {
		t.Errorf("payments.transactions: %d partitions", got)
	}

	// A wrong CA fails the plan rather than trusting anyone.
	otherCA, _ := certificates(t, t.TempDir())
	bad := cfg
	bad.TLS = &config.TLS{CAFile: otherCA}
	target, err := New("main", bad, e.store, e.sink, WithClientOptions(kgo.RequestRetries(0), kgo.RetryTimeout(time.Second)))
	if err != nil {
		t.Fatal(err)
	}
	defer target.Close()
	if _, err := target.Plan(t.Context(), d.Request()); err == nil {
		t.Error("plan through a TLS connection with an unknown CA succeeded")
	}

	// A missing password is an error at New, naming no secret.
	missing := cfg
	missing.SASL = &config.SASL{Mechanism: "SCRAM-SHA-512", Username: "k3sync", Secret: config.Secret{PasswordEnv: "K3SYNC_TEST_UNSET"}}
	if _, err := New("main", missing, e.store, e.sink); err == nil {
		t.Error("New with an unset password variable succeeded")
	}
}

// certificates writes a CA to dir and returns its file and a server
// certificate for 127.0.0.1 it signed.
func certificates(t *testing.T, dir string) (string, tls.Certificate) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ca := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "k3sync test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	leaf := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "kfake"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, DNSNames: []string{"localhost"},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, KeyUsage: x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, leaf, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	return caFile, tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}
