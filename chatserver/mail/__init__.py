"""Email: settings, addresses, composing, the outbox and its sender, inbound mail."""
