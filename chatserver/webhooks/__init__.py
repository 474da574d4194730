"""Signed webhooks: subscriptions, events, signing, the outbox, the address guard, delivery."""
