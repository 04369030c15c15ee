package httpapi

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// slowRoute adds a test-only route whose requests wait until release is closed, and signals entered
// as each one starts.
func slowRoute(entered chan<- struct{}, release <-chan struct{}) func(*Server) {
	return func(s *Server) {
		s.handle("GET /test/slow", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			entered <- struct{}{}
			<-release
			_, _ = io.WriteString(w, "done")
		}))
	}
}

// TestGracefulShutdown cancels Serve's context while requests are in flight: readiness turns 503 at
// once, the in-flight requests all complete with 200, and Serve returns nil.
func TestGracefulShutdown(t *testing.T) {
	const inFlight = 5
	entered := make(chan struct{}, inFlight)
	release := make(chan struct{})
	s, _ := newTestServer(t, nil)
	slowRoute(entered, release)(s)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + ln.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	drained := make(chan struct{})
	proceed := make(chan struct{})
	served := make(chan error, 1)
	go func() {
		served <- Serve(ctx, ln, s, ServeOptions{
			ShutdownTimeout: 30 * time.Second,
			// OnDrain holds the shutdown at the start of its delay until the test has looked at
			// readiness, so that no timing is involved.
			OnDrain: func() { close(drained); <-proceed },
		})
	}()

	// A separate client per request: each holds its own connection.
	type result struct {
		status int
		body   string
		err    error
	}
	results := make(chan result, inFlight)
	for range inFlight {
		go func() {
			c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
			resp, err := c.Get(base + "/test/slow")
			if err != nil {
				results <- result{err: err}
				return
			}
			b, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			results <- result{status: resp.StatusCode, body: string(b), err: err}
		}()
	}
	for range inFlight {
		<-entered
	}

	if got := readyStatus(t, base); got != http.StatusOK {
		t.Fatalf("readiness before the shutdown: %d", got)
	}
	cancel() // SIGTERM
	<-drained
	if got := readyStatus(t, base); got != http.StatusServiceUnavailable {
		t.Errorf("readiness during the shutdown delay: %d, want 503", got)
	}
	close(proceed)

	// Once the listener is closed, let the in-flight requests finish.
	waitClosed(t, ln.Addr().String())
	close(release)
	for range inFlight {
		r := <-results
		if r.err != nil || r.status != http.StatusOK || r.body != "done" {
			t.Errorf("in-flight request: status %d body %q err %v", r.status, r.body, r.err)
		}
	}
	if err := <-served; err != nil {
		t.Errorf("Serve returned %v, want nil", err)
	}
}

func TestShutdownTimeout(t *testing.T) {
	entered := make(chan struct{}, 1)
	release := make(chan struct{})
	defer close(release)
	s, _ := newTestServer(t, nil)
	slowRoute(entered, release)(s)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- Serve(ctx, ln, s, ServeOptions{ShutdownTimeout: 20 * time.Millisecond}) }()
	go func() {
		resp, err := http.Get("http://" + ln.Addr().String() + "/test/slow")
		if err == nil {
			resp.Body.Close()
		}
	}()
	<-entered
	cancel()
	err = <-served
	if err == nil || !strings.Contains(err.Error(), "did not finish") {
		t.Errorf("Serve returned %v, want a shutdown timeout error", err)
	}
}

func TestServeListenerError(t *testing.T) {
	s, _ := newTestServer(t, nil)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln.Close()
	if err := Serve(context.Background(), ln, s, ServeOptions{}); err == nil {
		t.Error("Serve on a closed listener returned nil")
	}
}

func TestServeTLS(t *testing.T) {
	certFile, keyFile, pool := selfSignedCert(t)
	s, _ := newTestServer(t, nil)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() {
		served <- Serve(ctx, ln, s, ServeOptions{TLSCertFile: certFile, TLSKeyFile: keyFile})
	}()
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	resp, err := c.Get("https://" + ln.Addr().String() + "/health")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Strict-Transport-Security") == "" {
		t.Errorf("status %d, HSTS %q", resp.StatusCode, resp.Header.Get("Strict-Transport-Security"))
	}
	c.CloseIdleConnections()
	cancel()
	if err := <-served; err != nil {
		t.Errorf("Serve: %v", err)
	}
}

func readyStatus(t *testing.T, base string) int {
	t.Helper()
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Get(base + "/health/ready")
	if err != nil {
		t.Fatalf("readiness: %v", err)
	}
	defer resp.Body.Close()
	var body readiness
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode == http.StatusServiceUnavailable && body.Status != "draining" {
		t.Errorf("readiness status %q, want draining", body.Status)
	}
	return resp.StatusCode
}

// waitClosed polls, in a short bounded loop, until nothing accepts connections at addr.
func waitClosed(t *testing.T, addr string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			return
		}
		c.Close()
		time.Sleep(time.Millisecond)
	}
	t.Fatalf("listener %s still accepts connections", addr)
}

func selfSignedCert(t *testing.T) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

// TestShutdownAnswersArrivingRequests: a request whose headers are still arriving when the shutdown
// begins is answered once they are complete, even after the listener has closed (plain
// http.Server.Shutdown would drop it).
func TestShutdownAnswersArrivingRequests(t *testing.T) {
	s, _ := newTestServer(t, nil)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- Serve(ctx, ln, s, ServeOptions{}) }()

	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, "GET /api/v1/status HTTP/1.1\r\nHost: gatehouse\r\n"); err != nil {
		t.Fatal(err)
	}
	// A complete request on another connection shows the server is serving (and has accepted the
	// first connection, which came before).
	if got := readyStatus(t, "http://"+ln.Addr().String()); got != http.StatusOK {
		t.Fatalf("readiness %d", got)
	}
	cancel()
	waitClosed(t, ln.Addr().String())
	if _, err := io.WriteString(conn, "X-Last: 1\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("the arriving request got no answer: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !resp.Close {
		t.Errorf("status %d, Connection: close %v; want 200 and close", resp.StatusCode, resp.Close)
	}
	if err := <-served; err != nil {
		t.Errorf("Serve: %v", err)
	}
}
