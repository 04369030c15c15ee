package mail

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	gomail "github.com/wneessen/go-mail"
)

// DefaultSMTPTimeout bounds one whole SMTP conversation (connect, greeting, TLS, AUTH, the message
// and QUIT) when SMTPOptions.Timeout is zero.
const DefaultSMTPTimeout = 30 * time.Second

// SMTPOptions adjusts an SMTPSender. The zero value means the defaults.
type SMTPOptions struct {
	// TLSConfig verifies the server (STARTTLS and implicit TLS). nil: the system's roots, the
	// URL's host as the server name and TLS 1.2 at least.
	TLSConfig *tls.Config
	// Timeout bounds one conversation; zero: DefaultSMTPTimeout.
	Timeout time.Duration
	// HELO is the name this host gives in EHLO; "": the machine's host name.
	HELO string
	// Now dates the messages; nil: time.Now.
	Now func() time.Time
}

// SMTPSender sends each message over its own connection to one SMTP server. smtp:// URLs upgrade
// with STARTTLS, which is mandatory when the URL has credentials (and used whenever the server
// offers it otherwise); smtps:// URLs speak TLS from the first byte. With credentials it
// authenticates with PLAIN or LOGIN, whichever the server offers (PLAIN first), falling back to the
// strongest other mechanism it offers. It writes a multipart/alternative message with the text
// and HTML parts, a Date and a generated Message-ID, which it returns as the provider's id.
type SMTPSender struct {
	server Server
	opts   SMTPOptions
}

var _ Sender = (*SMTPSender)(nil)

// NewSMTPSender returns a sender to the server of a parsed GATEHOUSE_SMTP_URL (see ParseURL).
func NewSMTPSender(server Server, opts SMTPOptions) *SMTPSender {
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultSMTPTimeout
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &SMTPSender{server: server, opts: opts}
}

// Send delivers env to the server. Errors name the server (never the credentials) and carry the
// server's reply; a permanent refusal of the recipient wraps ErrRejected. Cancelling ctx aborts the
// conversation.
func (s *SMTPSender) Send(ctx context.Context, env Envelope) (string, error) {
	ce, err := env.check()
	if err != nil {
		return "", fmt.Errorf("send email via %s: %w", s.server.Host, err)
	}
	msg, id, err := s.message(ce)
	if err != nil {
		return "", fmt.Errorf("send email via %s: %w", s.server.Host, err)
	}
	client, stop, err := s.client(ctx)
	if err != nil {
		return "", fmt.Errorf("send email via %s: %w", s.server.Host, err)
	}
	err = client.DialAndSendWithContext(ctx, msg)
	stop()
	if err != nil && msg.IsDelivered() {
		// The server took the message; only the closing RSET or QUIT failed. Reporting a failure
		// would send it again.
		return id, nil
	}
	if err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("%w (%w)", ctx.Err(), err)
		}
		if rejected(err) {
			err = fmt.Errorf("%w: %w", ErrRejected, err)
		}
		return "", fmt.Errorf("send email via %s: %w", s.server.Host, err)
	}
	return id, nil
}

// message builds the MIME message of a checked envelope and returns it with its Message-ID.
func (s *SMTPSender) message(ce checkedEnvelope) (*gomail.Msg, string, error) {
	msg := gomail.NewMsg(gomail.WithNoDefaultUserAgent())
	msg.FromMailAddress(ce.from)
	msg.ToMailAddress(ce.to)
	msg.Subject(ce.Subject)
	msg.SetDateWithValue(s.opts.Now())
	u, err := uuid.NewV7()
	if err != nil {
		return nil, "", fmt.Errorf("generate Message-ID: %w", err)
	}
	_, domain, _ := strings.Cut(ce.from.Address, "@")
	msg.SetMessageIDWithValue(u.String() + "@" + domain)
	for name, value := range ce.Headers {
		msg.SetGenHeader(gomail.Header(name), value)
	}
	switch {
	case ce.Text != "" && ce.HTML != "":
		msg.SetBodyString(gomail.TypeTextPlain, ce.Text)
		msg.AddAlternativeString(gomail.TypeTextHTML, ce.HTML)
	case ce.Text != "":
		msg.SetBodyString(gomail.TypeTextPlain, ce.Text)
	default:
		msg.SetBodyString(gomail.TypeTextHTML, ce.HTML)
	}
	return msg, msg.GetMessageID(), nil
}

// client configures a go-mail client for one conversation. The returned stop function must be
// called once the conversation is over: until then, cancelling ctx closes the connection.
func (s *SMTPSender) client(ctx context.Context) (*gomail.Client, func(), error) {
	host, portText, err := net.SplitHostPort(s.server.Host)
	if err != nil {
		return nil, nil, fmt.Errorf("SMTP address %q: %w", s.server.Host, err)
	}
	port, err := strconv.Atoi(portText)
	if err != nil {
		return nil, nil, fmt.Errorf("SMTP port %q: %w", portText, err)
	}
	tlsConfig := &tls.Config{MinVersion: tls.VersionTLS12}
	if s.opts.TLSConfig != nil {
		tlsConfig = s.opts.TLSConfig.Clone()
	}
	if tlsConfig.ServerName == "" {
		tlsConfig.ServerName = host
	}

	stop := func() {}
	dial := func(dialCtx context.Context, network, addr string) (net.Conn, error) {
		var conn net.Conn
		var err error
		nd := &net.Dialer{}
		if s.server.Implicit {
			conn, err = (&tls.Dialer{NetDialer: nd, Config: tlsConfig}).DialContext(dialCtx, network, addr)
		} else {
			conn, err = nd.DialContext(dialCtx, network, addr)
		}
		if err != nil {
			return nil, err
		}
		// go-mail watches the context only while dialling; this makes a cancellation end the
		// whole conversation.
		cancelWatch := context.AfterFunc(ctx, func() { _ = conn.Close() })
		stop = func() { cancelWatch() }
		return conn, nil
	}

	opts := []gomail.Option{
		gomail.WithPort(port),
		gomail.WithTimeout(s.opts.Timeout),
		gomail.WithTLSConfig(tlsConfig),
		gomail.WithDialContextFunc(dial),
	}
	switch {
	case s.server.Implicit:
		opts = append(opts, gomail.WithSSL())
	case s.server.Username != "":
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	default:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSOpportunistic))
	}
	if s.server.Username != "" {
		opts = append(opts,
			gomail.WithOpportunisticSMTPAuth(gomail.SMTPAuthPlain, gomail.SMTPAuthLogin),
			gomail.WithUsername(s.server.Username),
			gomail.WithPassword(s.server.Password),
		)
	}
	if s.opts.HELO != "" {
		opts = append(opts, gomail.WithHELO(s.opts.HELO))
	}
	client, err := gomail.NewClient(host, opts...)
	if err != nil {
		return nil, nil, fmt.Errorf("configure SMTP client: %w", err)
	}
	return client, func() { stop() }, nil
}

// rejected reports whether err is a permanent (5xx) refusal of the recipient.
func rejected(err error) bool {
	var se *gomail.SendError
	if !errors.As(err, &se) {
		return false
	}
	code := se.ErrorCode()
	return se.Reason == gomail.ErrSMTPRcptTo && code >= 500 && code < 600
}
