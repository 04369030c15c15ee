package mail

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/textproto"
	"net/url"
	"strings"
	"time"
)

// Server is a parsed GATEHOUSE_SMTP_URL.
type Server struct {
	Host     string // host:port
	Implicit bool   // smtps:// (TLS from the first byte) rather than smtp:// with STARTTLS
	Username string
	Password string
}

// ParseURL parses smtp://user:pass@host:port (STARTTLS, port 587 by default) or smtps://… (implicit
// TLS, port 465 by default).
func ParseURL(raw string) (Server, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return Server{}, fmt.Errorf("parse SMTP URL: %w", redactURLError(err))
	}
	var s Server
	switch u.Scheme {
	case "smtp":
	case "smtps":
		s.Implicit = true
	default:
		return Server{}, fmt.Errorf("SMTP URL scheme %q is not smtp or smtps", u.Scheme)
	}
	if u.Hostname() == "" {
		return Server{}, fmt.Errorf("SMTP URL has no host")
	}
	port := u.Port()
	if port == "" {
		port = "587"
		if s.Implicit {
			port = "465"
		}
	}
	s.Host = net.JoinHostPort(u.Hostname(), port)
	if u.User != nil {
		s.Username = u.User.Username()
		s.Password, _ = u.User.Password()
	}
	return s, nil
}

// redactURLError drops the URL (which may hold a password) from a url.Error.
func redactURLError(err error) error {
	if ue, ok := err.(*url.Error); ok {
		return ue.Err
	}
	return err
}

// Probe connects to the server, reads its greeting, says EHLO, upgrades with STARTTLS when the server
// offers it (smtp://), and quits. It reports why the server cannot be used, or nil.
func Probe(ctx context.Context, s Server, tlsConfig *tls.Config) error {
	if tlsConfig == nil {
		host, _, _ := net.SplitHostPort(s.Host)
		tlsConfig = &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", s.Host)
	if err != nil {
		return fmt.Errorf("connect to SMTP server %s: %w", s.Host, err)
	}
	defer conn.Close()
	if deadline, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(deadline)
	} else {
		_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	}
	if s.Implicit {
		tc := tls.Client(conn, tlsConfig)
		if err := tc.HandshakeContext(ctx); err != nil {
			return fmt.Errorf("TLS handshake with SMTP server %s: %w", s.Host, err)
		}
		conn = tc
	}
	tp := textproto.NewConn(conn)
	if _, _, err := tp.ReadResponse(220); err != nil {
		return fmt.Errorf("SMTP greeting from %s: %w", s.Host, err)
	}
	ext, err := ehlo(tp)
	if err != nil {
		return fmt.Errorf("SMTP EHLO to %s: %w", s.Host, err)
	}
	if !s.Implicit {
		if _, ok := ext["STARTTLS"]; ok {
			id, err := tp.Cmd("STARTTLS")
			if err != nil {
				return fmt.Errorf("SMTP STARTTLS to %s: %w", s.Host, err)
			}
			tp.StartResponse(id)
			_, _, err = tp.ReadResponse(220)
			tp.EndResponse(id)
			if err != nil {
				return fmt.Errorf("SMTP STARTTLS to %s: %w", s.Host, err)
			}
			tc := tls.Client(conn, tlsConfig)
			if err := tc.HandshakeContext(ctx); err != nil {
				return fmt.Errorf("TLS handshake with SMTP server %s: %w", s.Host, err)
			}
			tp = textproto.NewConn(tc)
			if _, err := ehlo(tp); err != nil {
				return fmt.Errorf("SMTP EHLO after STARTTLS to %s: %w", s.Host, err)
			}
		} else if s.Username != "" {
			return fmt.Errorf("SMTP server %s does not offer STARTTLS; refusing to send credentials in clear text", s.Host)
		}
	}
	id, err := tp.Cmd("QUIT")
	if err == nil {
		tp.StartResponse(id)
		_, _, _ = tp.ReadResponse(221)
		tp.EndResponse(id)
	}
	return nil
}

// ehlo sends EHLO and returns the extensions the server announced.
func ehlo(tp *textproto.Conn) (map[string]string, error) {
	id, err := tp.Cmd("EHLO gatehouse")
	if err != nil {
		return nil, err
	}
	tp.StartResponse(id)
	defer tp.EndResponse(id)
	_, msg, err := tp.ReadResponse(250)
	if err != nil {
		return nil, err
	}
	ext := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(msg))
	first := true
	for sc.Scan() {
		if first { // the greeting line
			first = false
			continue
		}
		k, v, _ := strings.Cut(sc.Text(), " ")
		ext[strings.ToUpper(k)] = v
	}
	return ext, nil
}
