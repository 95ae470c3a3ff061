"""A collector serving HTTPS itself: the agent enrols and uploads only when it can verify the certificate."""

from __future__ import annotations

from pathlib import Path

import yaml

from lab.certs import make_server_certificate
from lab.collector_process import CollectorProcess

from .conftest import Stack, user_token


def test_an_https_collector_is_trusted_with_its_ca_and_refused_without(tmp_path: Path) -> None:
    certificate = make_server_certificate(tmp_path / "tls")
    collector = CollectorProcess(
        tmp_path / "collector",
        extra_env={
            "HOMEDIAG_COLLECTOR_TLS_CERTFILE": str(certificate.cert_file),
            "HOMEDIAG_COLLECTOR_TLS_KEYFILE": str(certificate.key_file),
        },
    )
    collector.start()
    try:
        stack = Stack(
            collector, tmp_path, user_token(collector.admin("user", "create", "--name", "eve", "--role", "engineer"))
        )
        https = f"https://{collector.host}:{collector.port}"
        untrusting = stack.agent_config("untrusting", https)
        refused = stack.agent(untrusting, "enroll", "--token", stack.enrolment_token(), check=False)
        assert refused.returncode == 2 and "certificate" in refused.stderr.lower(), refused.stderr

        trusting = stack.agent_config("hub", https)
        settings = yaml.safe_load(trusting.read_text())
        settings["collector"]["ca_file"] = str(certificate.ca_file)
        trusting.write_text(yaml.safe_dump(settings))
        stack.agent(trusting, "enroll", "--token", stack.enrolment_token())
        done = stack.agent(trusting, "bundle", "create", "--upload")
        assert "delivered" in done.stdout, done.stdout + done.stderr
    finally:
        collector.stop()
