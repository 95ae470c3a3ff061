"""``homediag-collector``: the server and its admin commands.

    homediag-collector [--data-dir DIR] [--config FILE] serve [--host H] [--port P]
    homediag-collector token create --household H [--ttl-hours N]
    homediag-collector user create --name N --role customer|engineer|partner|admin [--household H] [--password P]
    homediag-collector user passwd --name N [--password P]
    homediag-collector agent list [--household H] | agent revoke AGENT_ID
    homediag-collector audit [--target T] [--limit N]
    homediag-collector broker config [--host H] [--port P] [--certfile CERT --keyfile KEY]

Admin commands work on the same data directory as a running server (SQLite WAL allows it). Exit codes:
0 ok, 2 with one line on stderr for any refusal.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import ssl
import sys
from contextlib import closing
from datetime import timedelta
from pathlib import Path

from aiohttp import web

from shared.models import utcnow

from .app import create_app
from .config import CollectorConfig, load_config
from .errors import CollectorError
from .live_broker import BrokerAccounts, render_broker_config
from .models import Role
from .store import Store, open_store
from .web.passwords import hash_password

# How long requests in flight may take to finish once the server is told to stop (SIGTERM). aiohttp's own default
# is 60 s: one client trickling an upload held every stop that long, past the unit's TimeoutStopSec (20 s), and
# systemd's SIGKILL then skipped the store's close. An upload cut off here is sent again by its hub.
STOP_GRACE_S = 5.0


def _store(config: CollectorConfig) -> closing[Store]:
    return closing(open_store(config))


def serve(args: argparse.Namespace, config: CollectorConfig) -> int:
    host = args.host or config.host
    port = config.port if args.port is None else args.port
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    tls = None
    if config.tls_certfile is not None and config.tls_keyfile is not None:
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        try:
            tls.load_cert_chain(config.tls_certfile, config.tls_keyfile)
        except (OSError, ssl.SSLError) as exc:
            raise CollectorError(
                f"cannot load the TLS certificate {config.tls_certfile}: {exc}", code="bad_configuration"
            ) from exc
    logger = logging.getLogger(__name__)
    logger.info("collector serving %s on %s://%s:%s", config.data_dir, "https" if tls else "http", host, port)
    web.run_app(
        create_app(config),
        host=host,
        port=port,
        ssl_context=tls,
        print=None,
        access_log=None,
        shutdown_timeout=STOP_GRACE_S,
    )
    logger.info("collector stopped")
    return 0


def token_create(args: argparse.Namespace, config: CollectorConfig) -> int:
    ttl = timedelta(hours=args.ttl_hours) if args.ttl_hours else timedelta(seconds=config.enrol_token_ttl_s)
    with _store(config) as store:
        token, expires = store.create_enrol_token(args.household, ttl, utcnow())
    print(f"enrolment token for household {args.household} (one use, expires {expires:%Y-%m-%d %H:%M}Z): {token}")
    return 0


def user_create(args: argparse.Namespace, config: CollectorConfig) -> int:
    role = Role(args.role)
    if (role is Role.CUSTOMER) != (args.household is not None):
        raise CollectorError("a customer needs --household; other roles take none", code="usage")
    with _store(config) as store:
        user, token = store.create_user(args.name, role, args.household, utcnow())
        if args.password:
            store.set_password(user.name, hash_password(args.password), utcnow())
    print(
        f"user {user.name} ({user.role}{', household ' + user.household if user.household else ''}) API token: {token}"
    )
    return 0


def user_passwd(args: argparse.Namespace, config: CollectorConfig) -> int:
    password = args.password or os.environ.get("HOMEDIAG_PASSWORD")
    if not password:
        raise CollectorError("give --password or HOMEDIAG_PASSWORD", code="usage")
    with _store(config) as store:
        store.set_password(args.name, hash_password(password), utcnow())
    print(f"password of {args.name} set (web sign-in at /ui/login)")
    return 0


def agent_list(args: argparse.Namespace, config: CollectorConfig) -> int:
    with _store(config) as store:
        agents = store.list_agents(args.household)
    for agent in agents:
        state = f"revoked {agent.revoked_at:%Y-%m-%d}" if agent.revoked_at else "active"
        print(f"{agent.agent_id}  {agent.household}  {agent.hostname}  {state}")
    return 0


def agent_revoke(args: argparse.Namespace, config: CollectorConfig) -> int:
    with _store(config) as store:
        agent = store.revoke_agent(args.agent_id, "admin-cli", utcnow())
    print(f"agent {agent.agent_id} revoked")
    return 0


def audit(args: argparse.Namespace, config: CollectorConfig) -> int:
    with _store(config) as store:
        entries = store.audit_log(target=args.target, limit=args.limit)
    for entry in reversed(entries):
        print(json.dumps(entry, default=str))
    return 0


def broker_config(args: argparse.Namespace, config: CollectorConfig) -> int:
    """Write the support broker's password and ACL files and print a Mosquitto listener that uses them."""
    directory = config.live.accounts_dir or config.data_dir / "broker"
    accounts = BrokerAccounts(directory, config.live.username)
    if (args.certfile is None) != (args.keyfile is None):
        raise CollectorError("--certfile and --keyfile go together", code="bad_arguments")
    tls = (args.certfile.resolve(), args.keyfile.resolve()) if args.certfile is not None else None
    print(
        render_broker_config(
            port=args.port,
            host=args.host,
            password_file=accounts.password_file.resolve(),
            acl_file=accounts.acl_file.resolve(),
            tls=tls,
        ),
        end="",
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="homediag-collector", description="homediag's support-side server")
    parser.add_argument("--data-dir", type=Path, help="database and blobs (default: data_dir of the configuration)")
    parser.add_argument("--config", type=Path, help="YAML configuration (default: DATA_DIR/collector.yaml if present)")
    commands = parser.add_subparsers(dest="command", required=True)

    serve_parser = commands.add_parser("serve", help="run the HTTP API")
    serve_parser.add_argument("--host")
    serve_parser.add_argument("--port", type=int)
    serve_parser.set_defaults(handler=serve)

    token = commands.add_parser("token", help="enrolment tokens").add_subparsers(dest="action", required=True)
    create = token.add_parser("create", help="a one-time, expiring enrolment token for a household")
    create.add_argument("--household", required=True)
    create.add_argument("--ttl-hours", type=float)
    create.set_defaults(handler=token_create)

    user = commands.add_parser("user", help="API users").add_subparsers(dest="action", required=True)
    create = user.add_parser("create", help="create a user and print its API token")
    create.add_argument("--name", required=True)
    create.add_argument("--role", required=True, choices=[role.value for role in Role])
    create.add_argument("--household", help="the customer's household")
    create.add_argument("--password", help="also allow web sign-in with this password")
    create.set_defaults(handler=user_create)
    passwd = user.add_parser("passwd", help="set a user's web sign-in password")
    passwd.add_argument("--name", required=True)
    passwd.add_argument("--password", help="the new password (default: $HOMEDIAG_PASSWORD)")
    passwd.set_defaults(handler=user_passwd)

    agent = commands.add_parser("agent", help="enrolled agents").add_subparsers(dest="action", required=True)
    listing = agent.add_parser("list")
    listing.add_argument("--household")
    listing.set_defaults(handler=agent_list)
    revoke = agent.add_parser("revoke", help="refuse this agent's bundles from now on")
    revoke.add_argument("agent_id")
    revoke.set_defaults(handler=agent_revoke)

    broker = commands.add_parser("broker", help="the support broker for live state").add_subparsers(
        dest="action", required=True
    )
    files = broker.add_parser("config", help="write its password/ACL files; print a mosquitto.conf listener using them")
    files.add_argument("--host", default="0.0.0.0")
    files.add_argument("--port", type=int, default=1883)
    files.add_argument("--certfile", type=Path, help="the broker's TLS certificate (PEM): the listener speaks only TLS")
    files.add_argument("--keyfile", type=Path, help="its private key (PEM)")
    files.set_defaults(handler=broker_config)

    audit_parser = commands.add_parser("audit", help="print the audit log, oldest first")
    audit_parser.add_argument("--target")
    audit_parser.add_argument("--limit", type=int, default=200)
    audit_parser.set_defaults(handler=audit)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        config = load_config(args.data_dir, args.config)
        return int(args.handler(args, config) or 0)
    except CollectorError as exc:
        print(f"homediag-collector: {exc.code}: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
