"""``homediag-agent run``: not registered yet (its owner adds the sub-command here)."""


def register(subparsers):
    pass
