"""``homediag-agent enroll``: bind this agent's key to a household with a one-time token.

``enroll --token T [--collector URL] [--hostname NAME] [--force]`` exchanges the token; ``enroll --show`` prints
the public key (to give to someone who verifies bundles offline) and the enrolment, changing nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import socket

from ..collector_client import CollectorClient
from ..config import AgentConfig
from ..errors import AgentError
from ..identity import Enrollment, Identity


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("enroll", help="enrol this agent with a collector, or show its identity")
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--token", help="one-time enrolment token from 'homediag-collector token create'")
    mode.add_argument("--show", action="store_true", help="print the public key and enrolment; change nothing")
    parser.add_argument("--collector", metavar="URL", help="collector base URL (default: collector.url)")
    parser.add_argument(
        "--hostname", default=None, help="name the collector shows for this hub (default: this host's name)"
    )
    parser.add_argument("--force", action="store_true", help="enrol again although already enrolled")
    parser.set_defaults(handler=run_enroll)


def run_enroll(args: argparse.Namespace, config: AgentConfig) -> int:
    identity = Identity.load_or_create(config.state_dir)
    if args.show:
        print(describe_identity(identity))
        return 0
    if identity.enrollment is not None and not args.force:
        raise AgentError(
            f"already enrolled as {identity.enrollment.agent_id} in household {identity.enrollment.household}; "
            "use --force to enrol again"
        )
    url = args.collector or config.collector.url
    enrollment = asyncio.run(
        _enroll(
            CollectorClient.from_config(config, url),
            args.token,
            identity.public_key_text,
            args.hostname or socket.gethostname(),
        )
    )
    identity.save_enrollment(enrollment)
    print(f"enrolled: agent {enrollment.agent_id} in household {enrollment.household} at {enrollment.collector_url}")
    return 0


async def _enroll(client: CollectorClient, token: str, public_key: str, hostname: str) -> Enrollment:
    async with client:
        return await client.enroll(token, public_key, hostname)


def describe_identity(identity: Identity) -> str:
    lines = [f"public_key: {identity.public_key_text}", f"key_id: {identity.key_id}"]
    enrollment = identity.enrollment
    if enrollment is None:
        lines.append("enrolled: no")
    else:
        lines += [
            f"agent_id: {enrollment.agent_id}",
            f"household: {enrollment.household}",
            f"collector: {enrollment.collector_url}",
            f"enrolled_at: {enrollment.enrolled_at.isoformat()}",
        ]
    return "\n".join(lines)
