package amqp_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"testing"
	"time"

	"github.com/novaevents/nova/transport/amqp"
)

// TestDialUsesTheTLSConfig dials a TLS listener whose self-signed
// certificate only the given *tls.Config trusts: the handshake succeeds
// only if the config is the one used. (The listener does not speak AMQP,
// so Dial itself fails afterwards.)
func TestDialUsesTheTLSConfig(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "nova test broker"},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}})
	if err != nil {
		t.Fatal(err)
	}
	handshakes := make(chan error, 64)
	served := make(chan struct{})
	go func() {
		defer close(served)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			err = c.(*tls.Conn).Handshake()
			_ = c.Close()
			select {
			case handshakes <- err:
			default:
			}
		}
	}()
	defer func() { _ = ln.Close(); <-served }()

	roots := x509.NewCertPool()
	roots.AddCert(cert)
	ctx, cancel := context.WithCancel(context.Background())
	dialed := make(chan error, 1)
	go func() {
		_, err := amqp.Dial(ctx, amqp.Config{URL: "amqps://guest:guest@" + ln.Addr().String() + "/", TLS: &tls.Config{RootCAs: roots}})
		dialed <- err
	}()
	if err := <-handshakes; err != nil {
		t.Fatalf("TLS handshake with the configured roots failed: %v", err)
	}
	cancel()
	if err := <-dialed; err == nil {
		t.Fatal("Dial succeeded against a server that does not speak AMQP")
	}
}
