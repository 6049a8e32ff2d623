package hooks

import (
	"context"

	"github.com/nautilus-mq/nautilus/broker/message"
)

// Chain holds, for each hook kind, the enabled plugins that implement it, in plugin order. It is
// built once and read without locks.
type Chain struct {
	register    []AuthOnRegister
	publish     []AuthOnPublish
	subscribe   []AuthOnSubscribe
	auth        []OnAuthM5
	deliver     []OnDeliver
	onRegister  []OnRegister
	onPublish   []OnPublish
	onSubscribe []OnSubscribe
	onUnsub     []OnUnsubscribe
	onOffline   []OnOfflineMessage
	onWakeup    []OnClientWakeup
	onOfflineC  []OnClientOffline
	onGone      []OnClientGone
	onExpired   []OnSessionExpired
	onDrop      []OnMessageDrop
}

// NewChain sorts plugins into the chains of the hook kinds each implements.
func NewChain(plugins ...any) *Chain {
	c := &Chain{}
	for _, p := range plugins {
		addIf(&c.register, p)
		addIf(&c.publish, p)
		addIf(&c.subscribe, p)
		addIf(&c.auth, p)
		addIf(&c.deliver, p)
		addIf(&c.onRegister, p)
		addIf(&c.onPublish, p)
		addIf(&c.onSubscribe, p)
		addIf(&c.onUnsub, p)
		addIf(&c.onOffline, p)
		addIf(&c.onWakeup, p)
		addIf(&c.onOfflineC, p)
		addIf(&c.onGone, p)
		addIf(&c.onExpired, p)
		addIf(&c.onDrop, p)
	}
	return c
}

func addIf[T any](chain *[]T, p any) {
	if h, ok := p.(T); ok {
		*chain = append(*chain, h)
	}
}

// HasAuthOnRegister, HasAuthOnPublish, HasAuthOnSubscribe and HasOnAuthM5 report whether any
// plugin implements the kind; when none does, the broker applies its defaults (allow_anonymous
// for registration; publish and subscribe allowed) instead of "all next means denied".
func (c *Chain) HasAuthOnRegister() bool  { return len(c.register) > 0 }
func (c *Chain) HasAuthOnPublish() bool   { return len(c.publish) > 0 }
func (c *Chain) HasAuthOnSubscribe() bool { return len(c.subscribe) > 0 }
func (c *Chain) HasOnAuthM5() bool        { return len(c.auth) > 0 }

// AuthOnRegister runs the chain until a plugin answers; all Next is Deny.
func (c *Chain) AuthOnRegister(ctx context.Context, r *Register) RegisterResult {
	for _, h := range c.register {
		if res := h.AuthOnRegister(ctx, r); res.Verdict != Next {
			return res
		}
	}
	return RegisterResult{Verdict: Deny}
}

// AuthOnPublish runs the chain until a plugin answers; all Next is Deny.
func (c *Chain) AuthOnPublish(ctx context.Context, p *Publish) PublishResult {
	for _, h := range c.publish {
		if res := h.AuthOnPublish(ctx, p); res.Verdict != Next {
			return res
		}
	}
	return PublishResult{Verdict: Deny}
}

// AuthOnSubscribe runs the chain until a plugin answers; all Next is Deny.
func (c *Chain) AuthOnSubscribe(ctx context.Context, s *Subscribe) SubscribeResult {
	for _, h := range c.subscribe {
		if res := h.AuthOnSubscribe(ctx, s); res.Verdict != Next {
			return res
		}
	}
	return SubscribeResult{Verdict: Deny}
}

// OnAuthM5 runs the chain until a plugin answers; all Next is Deny. Continue is an answer too
// (the plugin owns the exchange), whatever Verdict it comes with.
func (c *Chain) OnAuthM5(ctx context.Context, a *AuthRequest) AuthResult {
	for _, h := range c.auth {
		if res := h.OnAuthM5(ctx, a); res.Verdict != Next || res.Continue {
			return res
		}
	}
	return AuthResult{Verdict: Deny}
}

// OnDeliver runs the chain until a plugin answers; unlike the auth hooks, all Next delivers the
// message unchanged, and Deny drops it for this subscriber.
func (c *Chain) OnDeliver(ctx context.Context, d *Deliver) DeliverResult {
	for _, h := range c.deliver {
		if res := h.OnDeliver(ctx, d); res.Verdict != Next {
			return res
		}
	}
	return DeliverResult{Verdict: Allow}
}

// HasOnOfflineMessage reports whether any plugin wants to hear of offline messages.
func (c *Chain) HasOnOfflineMessage() bool { return len(c.onOffline) > 0 }

// HasOnDeliver reports whether delivery needs the chain at all, so the hot path can skip it.
func (c *Chain) HasOnDeliver() bool { return len(c.deliver) > 0 }

// The notification hooks: every plugin is told, in order.

func (c *Chain) Registered(ctx context.Context, cl Client) {
	for _, h := range c.onRegister {
		h.OnRegister(ctx, cl)
	}
}
func (c *Chain) Published(ctx context.Context, cl Client, m *message.Message) {
	for _, h := range c.onPublish {
		h.OnPublish(ctx, cl, m)
	}
}
func (c *Chain) Subscribed(ctx context.Context, cl Client, t []Topic) {
	for _, h := range c.onSubscribe {
		h.OnSubscribe(ctx, cl, t)
	}
}
func (c *Chain) Unsubscribed(ctx context.Context, cl Client, f []string) {
	for _, h := range c.onUnsub {
		h.OnUnsubscribe(ctx, cl, f)
	}
}
func (c *Chain) OfflineMessage(ctx context.Context, cl Client, m *message.Message) {
	for _, h := range c.onOffline {
		h.OnOfflineMessage(ctx, cl, m)
	}
}
func (c *Chain) ClientWakeup(ctx context.Context, cl Client) {
	for _, h := range c.onWakeup {
		h.OnClientWakeup(ctx, cl)
	}
}
func (c *Chain) ClientOffline(ctx context.Context, cl Client) {
	for _, h := range c.onOfflineC {
		h.OnClientOffline(ctx, cl)
	}
}
func (c *Chain) ClientGone(ctx context.Context, cl Client) {
	for _, h := range c.onGone {
		h.OnClientGone(ctx, cl)
	}
}
func (c *Chain) SessionExpired(ctx context.Context, mountpoint, clientID string) {
	for _, h := range c.onExpired {
		h.OnSessionExpired(ctx, mountpoint, clientID)
	}
}
func (c *Chain) MessageDropped(ctx context.Context, mountpoint, clientID string, m *message.Message, reason string) {
	for _, h := range c.onDrop {
		h.OnMessageDrop(ctx, mountpoint, clientID, m, reason)
	}
}
