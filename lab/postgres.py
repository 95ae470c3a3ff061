"""A real PostgreSQL server for tests and benches: Debian's postgresql-15 binaries, started once per session in a temp
dir on a free loopback port, as the ``postgres`` system user (initdb refuses root), fsync off. Each test gets a
fresh database cloned from a template that already holds the migrated schema; everything is removed at the end."""

from __future__ import annotations

import itertools
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg

from collector.config import CollectorConfig
from collector.store import open_store

PG_BIN = Path("/usr/lib/postgresql/15/bin")
SYSTEM_USER = "postgres"
ROLE = "homediag"
TEMPLATE = "homediag_template"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class PostgresServer:
    def __init__(self) -> None:
        self.directory = Path(tempfile.mkdtemp(prefix="homediag-pg-"))
        self.port = _free_port()
        self._numbers = itertools.count(1)
        self._started = False

    def _as_postgres(self, *command: str) -> None:
        subprocess.run(
            ["runuser", "-u", SYSTEM_USER, "--", *command],
            check=True,
            capture_output=True,
            cwd=self.directory,
        )

    def start(self) -> None:
        shutil.chown(self.directory, SYSTEM_USER)
        data = self.directory / "data"
        self._as_postgres(
            str(PG_BIN / "initdb"), "-D", str(data), "-U", ROLE, "--auth=trust", "-E", "UTF8", "--no-sync"
        )
        options = (
            f"-c listen_addresses=127.0.0.1 -c port={self.port} -c unix_socket_directories={self.directory}"
            " -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
        )
        self._as_postgres(
            str(PG_BIN / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(self.directory / "log"), "-w", "start"
        )
        self._started = True
        self.admin(f"CREATE DATABASE {TEMPLATE}")
        open_store(self.config_for(TEMPLATE)).close()  # the migrations, run once; every test's copy starts here

    def url(self, database: str) -> str:
        return f"postgresql://{ROLE}@127.0.0.1:{self.port}/{database}"

    def config_for(self, database: str, **fields: object) -> CollectorConfig:
        return CollectorConfig.model_validate({"database_url": self.url(database), **fields})

    def admin(self, sql: str) -> None:
        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            conn.execute(sql)  # type: ignore[arg-type]  # fixed statements of the harness

    def fresh_database(self) -> str:
        """A new database holding the migrated, empty schema; returns its URL."""
        name = f"test_{os.getpid()}_{next(self._numbers)}"
        self.admin(f"CREATE DATABASE {name} TEMPLATE {TEMPLATE}")
        return self.url(name)

    def stop(self) -> None:
        try:
            if self._started:
                self._as_postgres(str(PG_BIN / "pg_ctl"), "-D", str(self.directory / "data"), "-m", "immediate", "stop")
        finally:
            shutil.rmtree(self.directory, ignore_errors=True)


def postgres_session() -> Iterator[PostgresServer]:
    server = PostgresServer()
    try:
        server.start()
        yield server
    finally:
        server.stop()
