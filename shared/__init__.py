"""What the agent and the collector must agree on: models, the bundle format, signing, redaction."""
