package ephemeral

import (
	"context"
	"errors"
	"sync"
)

// Follow says what a Follower does with one channel.
type Follow struct {
	// Channel is the channel to subscribe to.
	Channel string
	// Apply is called for each message, from one goroutine, in order.
	Apply func(msg []byte)
	// Ready, if set, is called once the subscription is active, before any message is applied.
	Ready func()
	// Ended, if set, is called once following stops, whatever the reason.
	Ended func()
	// Lost, if set, is called (before Ended) when the subscription ended on its own: the store was
	// closed under the follower, rather than the context ending or Close being called.
	Lost func()
}

// Follower keeps one subscription and applies its messages until its context ends or it is
// closed: the life every cache invalidated by publish/subscribe needs. It starts once; a
// Follower that is closed stays closed. The zero value is ready to use.
type Follower struct {
	mu     sync.Mutex
	sub    Subscription
	done   chan struct{}
	closed bool
}

// Errors of Follower.Start.
var (
	ErrFollowerStarted = errors.New("ephemeral: follower already started")
	ErrFollowerClosed  = errors.New("ephemeral: follower closed")
)

// Start subscribes to f.Channel on s and applies its messages in a goroutine of its own until ctx
// ends or Close is called. The subscription is active when Start returns. A failed Subscribe is
// returned as it is.
func (fl *Follower) Start(ctx context.Context, s Store, f Follow) error {
	fl.mu.Lock()
	defer fl.mu.Unlock()
	switch {
	case fl.closed:
		return ErrFollowerClosed
	case fl.sub != nil:
		return ErrFollowerStarted
	}
	sub, err := s.Subscribe(ctx, f.Channel)
	if err != nil {
		return err
	}
	fl.sub, fl.done = sub, make(chan struct{})
	if f.Ready != nil {
		f.Ready()
	}
	go fl.run(ctx, sub, f, fl.done)
	return nil
}

func (fl *Follower) run(ctx context.Context, sub Subscription, f Follow, done chan<- struct{}) {
	defer close(done)
	if f.Ended != nil {
		defer f.Ended()
	}
	for {
		select {
		case <-ctx.Done():
			_ = sub.Close()
			return
		case msg, ok := <-sub.Messages():
			if !ok {
				fl.mu.Lock()
				closed := fl.closed
				fl.mu.Unlock()
				if !closed && ctx.Err() == nil && f.Lost != nil {
					f.Lost()
				}
				return
			}
			f.Apply(msg)
		}
	}
}

// Close stops following and waits until the last message applied has returned. It may be called
// more than once, and before Start.
func (fl *Follower) Close() error {
	fl.mu.Lock()
	sub, done := fl.sub, fl.done
	fl.closed = true
	fl.mu.Unlock()
	if sub == nil {
		return nil
	}
	err := sub.Close()
	<-done
	return err
}

// Done returns a channel closed once following has stopped; nil before Start.
func (fl *Follower) Done() <-chan struct{} {
	fl.mu.Lock()
	defer fl.mu.Unlock()
	return fl.done
}
