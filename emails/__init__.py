"""Building mail (templates) apart from sending it (outbox + SMTP)."""
