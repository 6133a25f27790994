"""The web service: inbound webhooks and health."""
