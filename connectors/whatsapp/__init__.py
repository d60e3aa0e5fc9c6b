"""WhatsApp through Meta's Cloud API, with its signed webhooks and the 24-hour window."""
