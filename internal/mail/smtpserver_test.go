package mail

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// testSMTPOptions configures an in-process SMTP server.
type testSMTPOptions struct {
	TLS      *tls.Config // offer STARTTLS with it (or, with Implicit, speak TLS from the first byte)
	Implicit bool
	// Users, when set, makes AUTH required and lists the accepted user names and passwords.
	Users map[string]string
	// Mechanisms offered for AUTH; nil: PLAIN and LOGIN.
	Mechanisms []string
	// Rcpt, when set, may refuse a recipient with an *smtp.SMTPError.
	Rcpt func(to string) error
}

// receivedMsg is what the server got: the envelope and the raw DATA.
type receivedMsg struct {
	From  string
	To    []string
	Data  []byte
	User  string // the authenticated user, "" for none
	TLS   bool   // whether the connection was encrypted when DATA came
	Mechs string // the mechanism used to authenticate
}

// testSMTP is an SMTP server (github.com/emersion/go-smtp) in the test process that records
// every message it accepts.
type testSMTP struct {
	Addr string
	opts testSMTPOptions

	mu       sync.Mutex
	received []receivedMsg
	arrived  chan struct{} // gets a value for each message
}

func startTestSMTP(t *testing.T, opts testSMTPOptions) *testSMTP {
	t.Helper()
	ts := &testSMTP{opts: opts, arrived: make(chan struct{}, 1000)}
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		return &testSession{srv: ts, conn: c}, nil
	}))
	srv.Domain = "mx.test"
	srv.ReadTimeout = 10 * time.Second
	srv.WriteTimeout = 10 * time.Second
	srv.MaxMessageBytes = 1 << 20
	srv.MaxRecipients = 10
	srv.ErrorLog = testLogger{t}
	srv.TLSConfig = opts.TLS
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if opts.Implicit {
		ln = tls.NewListener(ln, opts.TLS)
	}
	ts.Addr = ln.Addr().String()
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(ln)
	}()
	t.Cleanup(func() {
		_ = srv.Close()
		// Close misses a listener that Serve has not registered yet (a test that ends at once).
		_ = ln.Close()
		<-done
	})
	return ts
}

// Messages returns what the server received so far, oldest first.
func (ts *testSMTP) Messages() []receivedMsg {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return append([]receivedMsg(nil), ts.received...)
}

// waitMessages waits, at most a bounded time, until the server has received n messages.
func (ts *testSMTP) waitMessages(t *testing.T, n int) []receivedMsg {
	t.Helper()
	deadline := time.After(15 * time.Second)
	for {
		if msgs := ts.Messages(); len(msgs) >= n {
			return msgs
		}
		select {
		case <-ts.arrived:
		case <-deadline:
			t.Fatalf("the SMTP server received %d messages, want %d", len(ts.Messages()), n)
		}
	}
}

type testLogger struct{ t *testing.T }

func (l testLogger) Printf(format string, v ...any) { l.t.Logf("smtp server: "+format, v...) }
func (l testLogger) Println(v ...any)               { l.t.Log(append([]any{"smtp server:"}, v...)...) }

// testSession is one SMTP connection.
type testSession struct {
	srv  *testSMTP
	conn *smtp.Conn
	user string
	mech string
	from string
	to   []string
}

func (s *testSession) AuthMechanisms() []string {
	if s.srv.opts.Users == nil {
		return nil
	}
	if s.srv.opts.Mechanisms != nil {
		return s.srv.opts.Mechanisms
	}
	return []string{sasl.Plain, sasl.Login}
}

func (s *testSession) Auth(mech string) (sasl.Server, error) {
	check := func(user, pass string) error {
		if want, ok := s.srv.opts.Users[user]; !ok || want != pass {
			return smtp.ErrAuthFailed
		}
		s.user, s.mech = user, mech
		return nil
	}
	switch mech {
	case sasl.Plain:
		return sasl.NewPlainServer(func(_, user, pass string) error { return check(user, pass) }), nil
	case sasl.Login:
		return &loginServer{check: check}, nil
	}
	return nil, smtp.ErrAuthUnknownMechanism
}

func (s *testSession) Mail(from string, _ *smtp.MailOptions) error {
	if s.srv.opts.Users != nil && s.user == "" {
		return smtp.ErrAuthRequired
	}
	s.from = from
	return nil
}

func (s *testSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	if s.srv.opts.Rcpt != nil {
		if err := s.srv.opts.Rcpt(to); err != nil {
			return err
		}
	}
	s.to = append(s.to, to)
	return nil
}

func (s *testSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	_, isTLS := s.conn.TLSConnectionState()
	s.srv.mu.Lock()
	s.srv.received = append(s.srv.received, receivedMsg{From: s.from, To: s.to, Data: b, User: s.user, TLS: isTLS, Mechs: s.mech})
	s.srv.mu.Unlock()
	s.srv.arrived <- struct{}{}
	return nil
}

func (s *testSession) Reset()        { s.from, s.to = "", nil }
func (s *testSession) Logout() error { return nil }

// loginServer is the server side of the LOGIN mechanism, which go-sasl no longer provides.
type loginServer struct {
	step  int
	user  string
	check func(user, pass string) error
}

func (l *loginServer) Next(response []byte) ([]byte, bool, error) {
	switch l.step {
	case 0:
		l.step++
		if response != nil { // initial response: the user name
			l.user = string(response)
			l.step++
			return []byte("Password:"), false, nil
		}
		return []byte("Username:"), false, nil
	case 1:
		l.user = string(response)
		l.step++
		return []byte("Password:"), false, nil
	case 2:
		l.step++
		return nil, true, l.check(l.user, string(response))
	}
	return nil, true, errors.New("unexpected LOGIN step")
}

// testCertificates returns a server TLS configuration with a self-signed certificate for
// example.com and 127.0.0.1 (borrowed from httptest), and a client configuration that trusts it.
func testCertificates(t *testing.T) (server, client *tls.Config) {
	t.Helper()
	ts := httptest.NewUnstartedServer(nil)
	ts.StartTLS()
	t.Cleanup(ts.Close)
	pool := x509.NewCertPool()
	pool.AddCert(ts.Certificate())
	server = &tls.Config{Certificates: ts.TLS.Certificates, MinVersion: tls.VersionTLS12}
	client = &tls.Config{RootCAs: pool, ServerName: "example.com", MinVersion: tls.VersionTLS12}
	return server, client
}
