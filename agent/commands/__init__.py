"""One module per ``homediag-agent`` sub-command; each exposes ``register(subparsers)``.

A handler takes ``(args, config)`` and returns the process exit code.
"""
