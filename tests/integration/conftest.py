"""A real, throw-away PostgreSQL server for the integration tests.

In a cluster the Master Data database is PostgreSQL, locally it is SQLite; only a real
server shows where the two differ (type binding, aggregate result types, reflection).
So the tests start Debian's ``postgresql`` binaries themselves (``initdb`` + ``pg_ctl``,
installed by ``scripts/ensure-postgres.sh``) in a temporary directory, listening on
127.0.0.1 only, with trust authentication, and stop it at the end of the session.
No Docker, no system service, no fixed port.

Without the binaries (or without a way to run them as a non-root user) the tests are
skipped with the reason, except where ``TEST_REQUIRE_POSTGRES=1`` (CI sets it in
``.ci/run``): there a missing server is a failure, never a silent skip.
``TEST_POSTGRES_URL`` (the GitLab test job's PostgreSQL service) replaces the private
server with one already running: a superuser's URL of its ``postgres`` database.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import NoReturn

import pytest
import sqlalchemy as sa

HERE = Path(__file__).parent
PG_ROOT = Path("/usr/lib/postgresql")
SERVER_USER = "postgres"
"""Debian's package creates this system user; the server refuses to run as root."""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test in this folder ``integration`` so ``make test-fast`` leaves them out."""
    for item in items:
        if item.path.is_relative_to(HERE):
            item.add_marker(pytest.mark.integration)


def _unavailable(reason: str) -> NoReturn:
    """Skip locally, but fail where CI requires PostgreSQL: a skip there would hide a gap."""
    hint = "; run 'bash scripts/ensure-postgres.sh' to install Debian's postgresql"
    if os.environ.get("TEST_REQUIRE_POSTGRES") == "1":
        pytest.fail(f"PostgreSQL is required (TEST_REQUIRE_POSTGRES=1): {reason}{hint}")
    pytest.skip(f"PostgreSQL unavailable: {reason}{hint}")


def _bin_dir() -> Path | None:
    """The newest /usr/lib/postgresql/<major>/bin with initdb and pg_ctl (Debian's layout)."""

    def version(path: Path) -> tuple[int, ...]:
        return tuple(int(p) for p in path.parent.name.split(".") if p.isdigit())

    for path in sorted(PG_ROOT.glob("*/bin"), key=version, reverse=True):
        if (path / "initdb").is_file() and (path / "pg_ctl").is_file():
            return path
    return None


def _free_port() -> int:
    """A port the kernel just handed out on loopback, so parallel sessions do not collide."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """Start a private PostgreSQL server; yield the URL of its ``postgres`` database.

    Its folder lives directly under the system temp dir rather than pytest's 0700 temp
    root, which the ``postgres`` user could not enter (and which pytest re-locks when
    another session starts).
    """
    external = os.environ.get("TEST_POSTGRES_URL")
    if external:  # a server of CI's own (a job service): used as it is, never stopped
        yield external
        return
    bin_dir = _bin_dir()
    if bin_dir is None:
        _unavailable(f"no initdb/pg_ctl under {PG_ROOT}/*/bin")
    as_user: list[str] = []
    base = Path(tempfile.mkdtemp(prefix="cc-postgres-"))
    if os.geteuid() == 0:
        runuser = shutil.which("runuser")
        try:
            account = pwd.getpwnam(SERVER_USER)
        except KeyError:
            account = None
        if runuser is None or account is None:
            _unavailable(f"running as root but no runuser or no '{SERVER_USER}' user")
        as_user = [runuser, "-u", SERVER_USER, "--"]
        os.chown(base, account.pw_uid, account.pw_gid)

    data, sockets, log = base / "data", base / "s", base / "server.log"
    port = _free_port()

    def run(*args: str | Path) -> None:
        done = subprocess.run(
            [*as_user, *map(str, args)], cwd=base, capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            server_log = log.read_text(errors="replace")[-4000:] if log.exists() else ""
            pytest.fail(
                f"{args[0]} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}\n{server_log}"
            )

    try:
        run(
            bin_dir / "initdb",
            "-D",
            data,
            "-U",
            SERVER_USER,
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",
            "--no-instructions",
        )
        sockets.mkdir()
        if as_user:
            shutil.chown(sockets, SERVER_USER, SERVER_USER)
        # Loopback only, our own port and socket dir; durability is pointless here.
        with (data / "postgresql.conf").open("a", encoding="utf-8") as conf:
            conf.write(
                f"\nlisten_addresses = '127.0.0.1'\nport = {port}\n"
                f"unix_socket_directories = '{sockets}'\n"
                "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n"
            )
        run(bin_dir / "pg_ctl", "-D", data, "-l", log, "-w", "-t", "60", "start")
        try:
            yield f"postgresql+psycopg://{SERVER_USER}@127.0.0.1:{port}/postgres"
        finally:
            run(bin_dir / "pg_ctl", "-D", data, "-m", "fast", "-w", "stop")
    finally:
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_database(postgres_server: str) -> Callable[[str], str]:
    """A factory of empty databases on the test server, so tests never share tables."""

    def create(name: str) -> str:
        engine = sa.create_engine(postgres_server, isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as conn:
                conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        finally:
            engine.dispose()
        return sa.make_url(postgres_server).set(database=name).render_as_string(hide_password=False)

    return create


@pytest.fixture(scope="session")
def postgres_url(postgres_database: Callable[[str], str]) -> str:
    """SQLAlchemy URL of a fresh database on the session's PostgreSQL server."""
    return postgres_database("customer_classifier")


# -- S3 (SeaweedFS) ------------------------------------------------------------------------


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """One S3 server for the session (``tests/integration/s3_server.py``), stopped at the end."""
    from tests.integration.s3_server import start_server

    server = start_server(tmp_path_factory.mktemp("s3"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def s3_store_uri(s3_server: object, request: pytest.FixtureRequest) -> str:
    """A store URI under a prefix of its own, so tests never see each other's versions."""
    import re
    import uuid

    from tests.integration.s3_server import BUCKET

    name = re.sub(r"[^a-z0-9-]+", "-", request.node.name.lower())[:40].strip("-")
    return f"s3://{BUCKET}/{name}-{uuid.uuid4().hex[:8]}"
