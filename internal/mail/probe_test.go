package mail

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// fakeSMTP serves one scripted SMTP conversation per connection.
type fakeSMTP struct {
	greeting string
	starttls *tls.Config // offer STARTTLS with this config when set
}

func (f fakeSMTP) start(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go f.serve(c)
		}
	}()
	return ln.Addr().String()
}

func (f fakeSMTP) serve(c net.Conn) {
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	greeting := f.greeting
	if greeting == "" {
		greeting = "220 fake ESMTP"
	}
	rw := bufio.NewReadWriter(bufio.NewReader(c), bufio.NewWriter(c))
	say := func(s string) { rw.WriteString(s + "\r\n"); rw.Flush() }
	say(greeting)
	if !strings.HasPrefix(greeting, "220") {
		return
	}
	for {
		line, err := rw.ReadString('\n')
		if err != nil {
			return
		}
		cmd := strings.ToUpper(strings.TrimSpace(line))
		switch {
		case strings.HasPrefix(cmd, "EHLO"):
			if f.starttls != nil {
				if _, ok := c.(*tls.Conn); !ok {
					say("250-fake\r\n250 STARTTLS")
					continue
				}
			}
			say("250 fake")
		case cmd == "STARTTLS":
			say("220 go ahead")
			tc := tls.Server(c, f.starttls)
			if err := tc.Handshake(); err != nil {
				return
			}
			c = tc
			rw = bufio.NewReadWriter(bufio.NewReader(c), bufio.NewWriter(c))
		case cmd == "QUIT":
			say("221 bye")
			return
		default:
			say("502 no")
		}
	}
}

func TestParseURL(t *testing.T) {
	tests := []struct {
		name    string
		raw     string
		want    Server
		wantErr string
	}{
		{"starttls default port", "smtp://mx.example.com", Server{Host: "mx.example.com:587"}, ""},
		{"implicit tls default port", "smtps://u:p@mx.example.com", Server{Host: "mx.example.com:465", Implicit: true, Username: "u", Password: "p"}, ""},
		{"explicit port", "smtp://127.0.0.1:1025", Server{Host: "127.0.0.1:1025"}, ""},
		{"bad scheme", "http://mx.example.com", Server{}, "not smtp or smtps"},
		{"no host", "smtp://", Server{}, "no host"},
		{"bad url keeps password out", "smtp://u:secret@mx.example.com:port", Server{}, "invalid port"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseURL(tt.raw)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want containing %q", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), "secret") {
					t.Fatalf("error leaks the password: %v", err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ParseURL = %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}

func TestProbe(t *testing.T) {
	ts := httptest.NewUnstartedServer(nil)
	ts.StartTLS() // borrow its self-signed certificate
	defer ts.Close()
	serverTLS := ts.TLS.Clone()
	pool := x509.NewCertPool()
	pool.AddCert(ts.Certificate())
	clientTLS := &tls.Config{RootCAs: pool, ServerName: "example.com"}

	closed, _ := net.Listen("tcp", "127.0.0.1:0")
	closedAddr := closed.Addr().String()
	closed.Close()

	tests := []struct {
		name    string
		server  Server
		fake    *fakeSMTP
		wantErr string
	}{
		{"plain server answers", Server{}, &fakeSMTP{}, ""},
		{"starttls upgrade", Server{Username: "u", Password: "p"}, &fakeSMTP{starttls: serverTLS}, ""},
		{"credentials without starttls refused", Server{Username: "u", Password: "p"}, &fakeSMTP{}, "does not offer STARTTLS"},
		{"server refuses service", Server{}, &fakeSMTP{greeting: "554 go away"}, "SMTP greeting"},
		{"nothing listening", Server{Host: closedAddr}, nil, "connect to SMTP server"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := tt.server
			if tt.fake != nil {
				s.Host = tt.fake.start(t)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			err := Probe(ctx, s, clientTLS)
			if tt.wantErr == "" && err != nil {
				t.Fatalf("Probe: %v", err)
			}
			if tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("Probe err = %v, want containing %q", err, tt.wantErr)
			}
		})
	}
}
