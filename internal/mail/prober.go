package mail

import (
	"context"
	"sync"
	"time"
)

// Prober probes an SMTP server for readiness, remembering the outcome for a while so that frequent
// readiness polls from load balancers do not each open a connection to the mail provider.
type Prober struct {
	server Server
	ttl    time.Duration
	now    func() time.Time

	mu    sync.Mutex
	at    time.Time // when the remembered outcome was measured; zero for none
	err   error
	probe func(ctx context.Context, s Server) error
}

// NewProber returns a Prober whose outcomes are reused for ttl.
func NewProber(server Server, ttl time.Duration, now func() time.Time) *Prober {
	if now == nil {
		now = time.Now
	}
	return &Prober{server: server, ttl: ttl, now: now, probe: func(ctx context.Context, s Server) error {
		return Probe(ctx, s, nil)
	}}
}

// Check reports whether the server was usable at the last probe, probing again when that outcome is
// older than the ttl. Callers that find no fresh outcome probe concurrently rather than wait on each
// other, so one slow probe never holds up the rest beyond their own timeout.
func (p *Prober) Check(ctx context.Context) error {
	p.mu.Lock()
	if !p.at.IsZero() && p.now().Sub(p.at) < p.ttl {
		err := p.err
		p.mu.Unlock()
		return err
	}
	p.mu.Unlock()

	err := p.probe(ctx, p.server)
	if ctx.Err() != nil && err != nil {
		return err // our own deadline, not the server's fault: do not remember it
	}
	p.mu.Lock()
	p.at, p.err = p.now(), err
	p.mu.Unlock()
	return err
}
