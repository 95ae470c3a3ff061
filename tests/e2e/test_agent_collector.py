"""Agent ↔ collector end to end: real collector process, real agent CLI, real files."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import signal
import tarfile
from pathlib import Path

from agent.collector_client import BUNDLE_CONTENT_TYPE
from lab.holding_proxy import HoldingProxy
from lab.mosquitto import free_port

from .conftest import Stack


def _spool_files(config: Path) -> list[Path]:
    return sorted((config.parent / "state" / "spool").glob("*.bundle"))


def _bundle_ids(ticket: dict) -> list[str]:
    return [str(b["bundle_id"]) for b in ticket["bundles"]]


def _created_bundle_id(stdout: str) -> str:
    return stdout.split("bundle ", 1)[1].split()[0]


def _members(data: bytes) -> list[tuple[tarfile.TarInfo, bytes]]:
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        return [(info, tar.extractfile(info).read()) for info in tar.getmembers()]  # type: ignore[union-attr]


def _pack(members: list[tuple[tarfile.TarInfo, bytes]]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        for info, content in members:
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
    return out.getvalue()


def _flip(data: bytes, index: int) -> bytes:
    return data[:index] + bytes([data[index] ^ 0x01]) + data[index + 1 :]


def _tampered_variants(data: bytes) -> dict[str, bytes]:
    """One byte flipped in every member, and in the envelope's payload and signature."""
    members = _members(data)
    variants = {}
    for i, (info, content) in enumerate(members):
        changed = list(members)
        changed[i] = (info, _flip(content, len(content) // 2))
        variants[f"member {info.name}"] = _pack(changed)
        try:
            envelope = json.loads(content)
        except ValueError:
            continue
        if isinstance(envelope, dict) and "payloadType" in envelope:
            payload = base64.b64encode(_flip(base64.b64decode(envelope["payload"]), 10)).decode()
            changed[i] = (info, json.dumps(dict(envelope, payload=payload)).encode())
            variants["envelope payload"] = _pack(changed)
            signatures = [dict(envelope["signatures"][0])]
            signatures[0]["sig"] = base64.b64encode(_flip(base64.b64decode(signatures[0]["sig"]), 5)).decode()
            changed[i] = (info, json.dumps(dict(envelope, signatures=signatures)).encode())
            variants["envelope signature"] = _pack(changed)
    assert any(name.startswith("envelope") for name in variants), "no DSSE envelope found in the archive"
    return variants


def _upload(stack: Stack, data: bytes) -> tuple[int, dict]:
    status, answer = stack.collector.request("POST", "/api/v1/bundles", data=data, content_type=BUNDLE_CONTENT_TYPE)
    return status, json.loads(answer or b"null")


def test_enrolled_agent_bundle_lands_on_the_ticket_and_verifies_offline(stack: Stack, tmp_path: Path) -> None:
    config = stack.enrolled_agent("hub")
    shown = stack.agent(config, "enroll", "--show").stdout
    public_key = shown.split("public_key: ", 1)[1].split()[0]
    ticket = stack.open_ticket("curtain doesn't respond remotely at night")

    out = tmp_path / "uploaded.tar.gz"
    done = stack.agent(config, "bundle", "create", "--upload", "--out", str(out))
    bundle_id = _created_bundle_id(done.stdout)
    assert f"bundle {bundle_id} delivered" in done.stdout
    assert _spool_files(config) == []

    shown_ticket = stack.ticket(ticket["id"])
    assert _bundle_ids(shown_ticket) == [bundle_id]
    assert shown_ticket["bundles"][0]["verified"] is True

    verified = stack.agent(config, "bundle", "verify", str(out))
    assert verified.stdout.startswith("OK:") and bundle_id in verified.stdout
    key_file = tmp_path / "agent.pub"
    key_file.write_text(public_key + "\n")
    stack.agent(config, "bundle", "verify", str(out), "--public-key", str(key_file))

    # A second, never-uploaded bundle: every one-byte change fails offline verification and upload.
    fresh = tmp_path / "fresh.tar.gz"
    stack.agent(config, "bundle", "create", "--out", str(fresh))
    original = fresh.read_bytes()
    for what, forged in _tampered_variants(original).items():
        path = tmp_path / "forged.tar.gz"
        path.write_bytes(forged)
        refused = stack.agent(config, "bundle", "verify", str(path), "--public-key", public_key, check=False)
        assert refused.returncode != 0, f"verify accepted a bundle with a flipped byte in the {what}"
        assert len(refused.stderr.strip().splitlines()) == 1, refused.stderr
        status, body = _upload(stack, forged)
        assert status in (400, 403, 422), f"{what}: collector answered {status} {body}"
        assert body["error"]["code"], body
    status, body = _upload(stack, original)
    assert status == 201, body


def test_a_bundle_made_while_the_collector_is_down_arrives_once_it_is_back(stack: Stack) -> None:
    config = stack.enrolled_agent("hub")
    stack.collector.stop()
    done = stack.agent(config, "bundle", "create", "--upload", "--wait", "1")
    bundle_id = _created_bundle_id(done.stdout)
    assert "queued in the spool" in done.stdout
    assert len(_spool_files(config)) == 1
    still = stack.agent(config, "bundle", "flush", "--wait", "0.5", check=False)
    assert still.returncode == 75 and "still queued" in still.stdout

    stack.collector.start()  # same data dir, same port
    ticket = stack.open_ticket("curtain doesn't respond remotely at night")
    flushed = stack.agent(config, "bundle", "flush")
    assert f"bundle {bundle_id} delivered" in flushed.stdout
    assert _spool_files(config) == []
    assert "spool is empty" in stack.agent(config, "bundle", "flush").stdout
    assert _bundle_ids(stack.ticket(ticket["id"])) == [bundle_id]


async def test_agent_killed_mid_upload_delivers_exactly_once_after_restart(stack: Stack) -> None:
    async with HoldingProxy(stack.collector.port) as proxy:
        config = await asyncio.to_thread(stack.enrolled_agent, "hub", proxy.url)
        # Spool a bundle while no collector answers (the configured URL is overridden to a closed port).
        nowhere = {"HOMEDIAG_COLLECTOR__URL": f"http://127.0.0.1:{free_port()}"}
        done = await asyncio.to_thread(
            stack.agent, config, "bundle", "create", "--upload", "--wait", "0.5", env=nowhere
        )
        bundle_id = _created_bundle_id(done.stdout)
        [spooled] = _spool_files(config)
        ticket = await asyncio.to_thread(stack.open_ticket, "curtain doesn't respond remotely at night")

        flush = await asyncio.create_subprocess_exec(
            *stack.agent_argv(config, "bundle", "flush", "--wait", "60"),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
            env=stack.agent_env(),
        )
        try:
            # The collector stored the bundle and answered; the answer is held in the proxy: kill the agent now.
            await asyncio.wait_for(proxy.answer_held.wait(), 30)
        finally:
            flush.send_signal(signal.SIGKILL)
            assert await flush.wait() == -signal.SIGKILL
        assert spooled.exists(), "the bundle was deleted without an acknowledgement"
        proxy.release()

        again = await asyncio.to_thread(stack.agent, config, "bundle", "flush")
        assert f"bundle {bundle_id} delivered" in again.stdout
        assert _spool_files(config) == []
        assert not list((config.parent / "state" / "spool").glob(".tmp-*"))
    assert _bundle_ids(await asyncio.to_thread(stack.ticket, ticket["id"])) == [bundle_id]


def test_enrolment_refusals_are_one_clear_line(stack: Stack) -> None:
    config = stack.agent_config("hub")
    bogus = stack.agent(config, "enroll", "--token", "not-a-token", check=False)
    assert bogus.returncode == 2 and "token_invalid" in bogus.stderr
    assert len(bogus.stderr.strip().splitlines()) == 1
    token = stack.enrolment_token()
    stack.agent(config, "enroll", "--token", token, "--collector", stack.collector.url)
    twice = stack.agent(config, "enroll", "--token", token, check=False)
    assert twice.returncode == 2 and "already enrolled" in twice.stderr
    reused = stack.agent(config, "enroll", "--token", token, "--force", check=False)
    assert reused.returncode == 2 and "token_used" in reused.stderr
    shown = stack.agent(config, "enroll", "--show").stdout
    assert "household: hh-e2e" in shown
