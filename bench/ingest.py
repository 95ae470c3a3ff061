"""Bundle ingest throughput: the real collector against a bare aiohttp handler, same clients, same run.

``python -m bench.ingest [--count 3000] [--clients 50]``: builds ``count`` signed 64 KB bundles from enrolled
agents, uploads them with ``clients`` concurrent connections to a ``homediag-collector serve`` process on
loopback, then the same bytes to a bare aiohttp process whose handler only reads and discards the body.
Prints bundles/s for both, the ratio, and p50/p99 latency. Nothing is asserted: the figures are the result.

Then, in the same run, the same load through HAProxy (packaging/haproxy-collector.cfg) to one and to two
replicas sharing a PostgreSQL database (a throwaway server started by the bench), each printed against the
verification ceiling below (``--no-replicas`` skips them).

It also prints the *verification floor*: the CPU that the compiled primitives alone (gunzip, sha256 of the
archive and of its contents, one Ed25519 verification) take per bundle, timed in this process. A verifying
collector needs at least the bare run's CPU per request (server and client) plus that floor, which bounds
its rate on this machine's cores, and so the ratio any verifying implementation could reach here.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import signal
import statistics
import sys
import tempfile
import time
import zlib
from contextlib import closing
from datetime import timedelta
from pathlib import Path

import aiohttp
import psutil
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from collector.config import CollectorConfig
from collector.store import open_store
from lab.collector_process import CollectorProcess
from lab.haproxy import Balancer
from lab.mosquitto import free_port, wait_for_port
from lab.postgres import PostgresServer, postgres_session
from shared.bundle import build_bundle
from shared.models import CaptureWindow, RedactionSummary, Trigger, TriggerKind, utcnow
from shared.signing import PAYLOAD_TYPE, generate_private_key, pae, public_key_to_text

BUNDLE_TYPE = "application/vnd.homediag.bundle+gzip"
BUNDLE_BYTES = 64 * 1024
AGENTS = 50
FSYNC_ENV = {"HOMEDIAG_COLLECTOR_INGEST__FSYNC": os.environ.get("BENCH_FSYNC", "true")}
FLOOR_ROUNDS = 500


async def _bare_app() -> web.Application:
    async def discard(request: web.Request) -> web.Response:
        async for _ in request.content.iter_chunked(64 * 1024):
            pass
        return web.json_response({"ok": True}, status=201)

    app = web.Application()
    app.router.add_post("/api/v1/bundles", discard)
    return app


def serve_bare(port: int) -> None:
    web.run_app(_bare_app(), host="127.0.0.1", port=port, print=None, access_log=None)


def _cli_tokens(collector: CollectorProcess) -> list[tuple[str, str]]:
    """(household, enrolment token) pairs, made as an operator makes them."""
    households = [f"bench-{index}" for index in range(AGENTS)]
    return [(h, collector.admin("token", "create", "--household", h).split()[-1]) for h in households]


def _store_tokens(config: CollectorConfig) -> list[tuple[str, str]]:
    """The same, straight through the store (one process instead of one per agent)."""
    with closing(open_store(config)) as store:
        households = [f"bench-{index}" for index in range(AGENTS)]
        return [(h, store.create_enrol_token(h, timedelta(hours=1), utcnow())[0]) for h in households]


async def _enrol_agents(url: str, tokens: list[tuple[str, str]]) -> list[tuple[str, str, Ed25519PrivateKey]]:
    agents: list[tuple[str, str, Ed25519PrivateKey]] = []
    async with aiohttp.ClientSession() as session:
        for household, token in tokens:
            key = generate_private_key()
            async with session.post(
                f"{url}/api/v1/enroll",
                json={"token": token, "public_key": public_key_to_text(key.public_key()), "hostname": "bench"},
            ) as answer:
                body = await answer.json()
            agents.append((body["agent_id"], household, key))
    return agents


def _bundles(agents: list[tuple[str, str, Ed25519PrivateKey]], count: int) -> list[bytes]:
    now = utcnow()
    window = CaptureWindow(start=now, end=now)
    bundles = []
    for index in range(count):
        agent_id, household, key = agents[index % len(agents)]
        _, data = build_bundle(
            files={"logs/agent.log": os.urandom(BUNDLE_BYTES - 2048)},
            agent_id=agent_id,
            household=household,
            trigger=Trigger(kind=TriggerKind.FAULT, signature="router_reboot"),
            window=window,
            redaction=RedactionSummary(),
            private_key=key,  # type: ignore[arg-type]
        )
        bundles.append(data)
    return bundles


async def _upload_all(url: str, bundles: list[bytes], clients: int) -> tuple[float, list[float], int]:
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for data in bundles:
        queue.put_nowait(data)
    latencies: list[float] = []
    errors = 0

    async def client(session: aiohttp.ClientSession) -> None:
        nonlocal errors
        while not queue.empty():
            data = queue.get_nowait()
            started = time.perf_counter()
            async with session.post(url, data=data, headers={"Content-Type": BUNDLE_TYPE}) as answer:
                await answer.read()
                if answer.status not in (200, 201):
                    errors += 1
            latencies.append(time.perf_counter() - started)

    connector = aiohttp.TCPConnector(limit=clients)
    async with aiohttp.ClientSession(connector=connector) as session:
        started = time.perf_counter()
        async with asyncio.TaskGroup() as group:
            for _ in range(clients):
                group.create_task(client(session))
        elapsed = time.perf_counter() - started
    return elapsed, latencies, errors


def _cpu_seconds(process: psutil.Process) -> float:
    """CPU time of a process and its children (the verify workers)."""
    total = 0.0
    for proc in [process, *process.children(recursive=True)]:
        times = proc.cpu_times()
        total += times.user + times.system
    return total


def _verification_floor(data: bytes) -> float:
    """Seconds of CPU per bundle for the compiled primitives every verification needs, nothing else."""
    key = generate_private_key()
    message = pae(PAYLOAD_TYPE, data[:2048])
    signature = key.sign(message)
    public = key.public_key()
    started = time.process_time()
    for _ in range(FLOOR_ROUNDS):
        contents = zlib.decompress(data, wbits=31)
        hashlib.sha256(data).digest()
        hashlib.sha256(contents).digest()
        public.verify(signature, message)
    return (time.process_time() - started) / FLOOR_ROUNDS


def _report(name: str, count: int, elapsed: float, latencies: list[float], errors: int) -> float:
    rate = count / elapsed
    cuts = statistics.quantiles(latencies, n=100)
    print(
        f"{name:>10}: {rate:8.0f} bundles/s  p50 {cuts[49] * 1000:6.1f} ms  p99 {cuts[98] * 1000:6.1f} ms  errors {errors}"
    )
    return rate


async def _through_balancer(
    tmp: Path, postgres: PostgresServer, env: dict[str, str], replicas: int, count: int, clients: int
) -> tuple[float, list[float], int]:
    """The load through HAProxy to ``replicas`` collectors on one fresh PostgreSQL database and one blob dir."""
    data_dir = tmp / f"replicas-{replicas}"
    database_url = postgres.fresh_database()
    env = {**env, "HOMEDIAG_COLLECTOR_DATABASE_URL": database_url}
    processes = [CollectorProcess(data_dir, extra_env=env) for _ in range(replicas)]
    try:
        for process in processes:
            process.start()
        with Balancer(tmp, processes) as balancer:
            tokens = _store_tokens(CollectorConfig(data_dir=data_dir, database_url=database_url))
            agents = await _enrol_agents(balancer.url, tokens)
            bundles = await asyncio.to_thread(_bundles, agents, count)
            url = balancer.url + "/api/v1/bundles"
            await _upload_all(url, bundles[: clients * 2], clients)  # warm-up
            return await _upload_all(url, bundles, clients)
    finally:
        for process in processes:
            process.stop()


async def run(count: int, clients: int, with_replicas: bool) -> None:
    with tempfile.TemporaryDirectory(prefix="homediag-bench-") as tmp:
        env = {
            **FSYNC_ENV,
            "HOMEDIAG_COLLECTOR_RATE_LIMIT__BURST": str(count),
            "HOMEDIAG_COLLECTOR_RATE_LIMIT__PER_MINUTE": "1000000",
        }
        collector = CollectorProcess(Path(tmp) / "collector", extra_env=env)
        with collector:
            agents = await _enrol_agents(collector.url, _cli_tokens(collector))
            bundles = await asyncio.to_thread(_bundles, agents, count)
            print(f"{count} bundles of {sum(map(len, bundles)) // count} bytes, {clients} concurrent clients")
            await _upload_all(collector.url + "/api/v1/bundles", bundles[: clients * 2], clients)  # warm-up
            server = psutil.Process(collector.pid)
            before, client_before = _cpu_seconds(server), time.process_time()
            elapsed, latencies, errors = await _upload_all(collector.url + "/api/v1/bundles", bundles, clients)
            server_cpu, client_cpu = _cpu_seconds(server) - before, time.process_time() - client_before
        print(
            f"collector CPU (server + verify workers): {server_cpu / count * 1000:.2f} ms per bundle, "
            f"clients {client_cpu / count * 1000:.2f} ms"
        )
        collector_rate = _report("collector", count, elapsed, latencies, errors)

        port = free_port()
        bare = await asyncio.create_subprocess_exec(sys.executable, "-m", "bench.ingest", "--serve-bare", str(port))
        try:
            wait_for_port("127.0.0.1", port, 15)
            url = f"http://127.0.0.1:{port}/api/v1/bundles"
            await _upload_all(url, bundles[: clients * 2], clients)
            before = _cpu_seconds(psutil.Process(bare.pid)) + time.process_time()
            elapsed, latencies, errors = await _upload_all(url, bundles, clients)
            bare_cpu = _cpu_seconds(psutil.Process(bare.pid)) + time.process_time() - before
        finally:
            bare.terminate()
            await asyncio.wait_for(bare.wait(), 10)
        bare_rate = _report("bare", count, elapsed, latencies, errors)
        print(
            f"     ratio: {collector_rate / bare_rate:.2f} (collector / bare handler; target >= 0.5 and >= 500 bundles/s)"
        )
        floor = _verification_floor(bundles[0])
        cores = len(os.sched_getaffinity(0))
        ceiling = cores / (bare_cpu / count + floor)
        print(
            f"     floor: {floor * 1e6:.0f} us CPU per bundle (gunzip, 2x sha256, Ed25519); bare run "
            f"{bare_cpu / count * 1e6:.0f} us per request (server + client); on {cores} cores no verifying "
            f"collector exceeds {ceiling:.0f} bundles/s here, ratio <= {ceiling / bare_rate:.2f}"
        )
        # The machine is shared: the measured rate falls with everyone else's load, while CPU per bundle hardly
        # does. The second figure is the rate the collector's own CPU (and its clients') allows on these cores.
        own = cores / ((server_cpu + client_cpu) / count)
        print(
            f"   ceiling: collector {collector_rate / ceiling:.2f} x the ceiling as measured; its CPU per bundle "
            f"allows {own:.0f} bundles/s = {own / ceiling:.2f} x the ceiling (target >= 0.5)"
        )
        if not with_replicas:
            return
        print("through HAProxy, PostgreSQL, shared blob dir (same bundles' size and clients):")
        for postgres in postgres_session():
            for replicas in (1, 2):
                elapsed, latencies, errors = await _through_balancer(Path(tmp), postgres, env, replicas, count, clients)
                rate = _report(f"{replicas} replica" + "s" * (replicas > 1), count, elapsed, latencies, errors)
                print(
                    f"{'':>10}  {rate / ceiling:.2f} of the verification ceiling, {rate / collector_rate:.2f} of SQLite direct"
                )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=3000)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--no-replicas", action="store_true", help="skip the PostgreSQL runs behind HAProxy")
    parser.add_argument("--serve-bare", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    # Stopped by a timeout or ^C, the bench still stops what it started (collectors, HAProxy, PostgreSQL).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if args.serve_bare:
        serve_bare(args.serve_bare)
        return
    asyncio.run(run(args.count, args.clients, not args.no_replicas))


if __name__ == "__main__":
    main()
