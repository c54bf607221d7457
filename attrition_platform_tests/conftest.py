"""A real, throwaway PostgreSQL server for the SQL-source tests.

A real server rather than SQLite or a mock because quoting, identifier case folding and
connection errors are exactly what the SQL source has to get right, and they are dialect
behaviour. The server lives in a temp directory for one test session and is removed afterwards.
"""

from __future__ import annotations

import glob
import os
import pwd
import re
import shlex
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

_PG_USER = "postgres"
_DATABASE = "attrition_test"
# A second role that must log in with a password (the superuser is trusted), so that a wrong
# password is really refused: the SQL source's masking of it can then be tested.
READER_USER = "hr_reader"
READER_PASSWORD = "Sup3r-Secret-Pw"
_START_ATTEMPTS = 3


def _postgres_bindir() -> Path | None:
    """Newest Debian-style install first (what CI installs), then whatever is on PATH."""

    def version(bindir: str) -> tuple[int, ...]:
        found = re.search(r"/postgresql/([\d.]+)/bin", bindir)
        return tuple(int(p) for p in found.group(1).split(".") if p) if found else ()

    candidates = sorted(
        (os.path.dirname(p) for p in glob.glob("/usr/lib/postgresql/*/bin/initdb")),
        key=version,
        reverse=True,
    )
    for bindir in candidates:
        if os.access(os.path.join(bindir, "pg_ctl"), os.X_OK):
            return Path(bindir)
    initdb, pg_ctl = shutil.which("initdb"), shutil.which("pg_ctl")
    if initdb and pg_ctl and Path(initdb).parent == Path(pg_ctl).parent:
        return Path(initdb).parent
    return None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _Cluster:
    """Runs the server binaries as `postgres` when we are root, since they refuse to run as root."""

    def __init__(self, bindir: Path, root: Path, account: pwd.struct_passwd | None) -> None:
        self.bindir = bindir
        self.root = root
        self.data = root / "data"
        self.log = root / "server.log"
        self.prefix: list[str] = []
        if account is not None:
            os.chown(root, account.pw_uid, account.pw_gid)
            self.prefix = ["runuser", "-u", account.pw_name, "--"]

    def run(self, tool: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        # cwd=root: as `postgres` the caller's working directory may not be readable.
        done = subprocess.run(
            [*self.prefix, str(self.bindir / tool), *args],
            cwd=self.root,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if check and done.returncode != 0:
            raise RuntimeError(
                f"{tool} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}\n"
                + self.log_tail()
            )
        return done

    def require_password(self, role: str) -> None:
        """Put a password rule for `role` ahead of initdb's `trust` lines (first match wins)."""
        hba = self.data / "pg_hba.conf"
        rule = f"host all {role} 127.0.0.1/32 scram-sha-256\n"
        hba.write_text(rule + hba.read_text())

    def log_tail(self) -> str:
        try:
            return "server log:\n" + "\n".join(self.log.read_text().splitlines()[-20:])
        except OSError:
            return ""

    def start(self) -> int:
        """Start on a free port, retrying in case another process grabbed it in between."""
        self.run("initdb", "-D", str(self.data), "-A", "trust", "-U", _PG_USER,
                 "-E", "UTF8", "--no-locale", "--no-sync")  # fmt: skip
        self.require_password(READER_USER)
        error: Exception | None = None
        for _ in range(_START_ATTEMPTS):
            port = _free_port()
            options = (
                f"-p {port} -k {shlex.quote(str(self.root))} -c listen_addresses=127.0.0.1 "
                "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
            )
            # -l: without a log file the server inherits our stdout pipe and run() never returns.
            done = self.run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options,
                            "-w", "-t", "60", "start", check=False)  # fmt: skip
            if done.returncode == 0:
                return port
            error = RuntimeError(f"pg_ctl start failed:\n{done.stderr}\n{self.log_tail()}")
        assert error is not None
        raise error

    def stop(self) -> None:
        if not (self.data / "postmaster.pid").exists():
            return
        if self.run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop",
                    check=False).returncode != 0:  # fmt: skip
            self.run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop", check=False)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """SQLAlchemy URL of an empty database on a private PostgreSQL server (session-wide)."""
    bindir = _postgres_bindir()
    if bindir is None:
        pytest.skip(
            "PostgreSQL server binaries (initdb, pg_ctl) not found under /usr/lib/postgresql/*/bin "
            "or on PATH: install the 'postgresql' package to run the SQL-source tests"
        )
    account: pwd.struct_passwd | None = None
    if os.geteuid() == 0:
        try:
            account = pwd.getpwnam(_PG_USER)
        except KeyError:
            pytest.fail(
                f"running as root but there is no '{_PG_USER}' user to run the PostgreSQL "
                "server as (initdb and pg_ctl refuse to run as root)"
            )
    # Not pytest's tmp_path: its parent is private to root and `postgres` could not reach it.
    root = Path(tempfile.mkdtemp(prefix="attrition-pg-"))
    cluster = _Cluster(bindir, root, account)
    try:
        port = cluster.start()
        cluster.run("createdb", "-h", "127.0.0.1", "-p", str(port), "-U", _PG_USER, _DATABASE)
        yield f"postgresql+psycopg2://{_PG_USER}@127.0.0.1:{port}/{_DATABASE}"
    finally:
        cluster.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_reader_url(postgres_url: str) -> str:
    """URL of the same database for a role that must give its password (READER_PASSWORD) and
    may read every table in `public`, including tables created later by the superuser."""
    import sqlalchemy as sa

    engine = sa.create_engine(postgres_url)
    with engine.begin() as conn:
        conn.execute(sa.text(f"CREATE ROLE {READER_USER} LOGIN PASSWORD '{READER_PASSWORD}'"))
        conn.execute(sa.text(f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {READER_USER}"))
        conn.execute(sa.text(
            f"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO {READER_USER}"
        ))
    engine.dispose()
    return postgres_url.replace(f"//{_PG_USER}@", f"//{READER_USER}:{READER_PASSWORD}@")


# Files whose tests take minutes (real demos, the drift scenario, whole graphs on real storage),
# longest first. `make test` distributes whole files (`--dist loadfile`): a file's module
# fixtures are then built once, on one worker (split across workers, or interleaved with other
# files, a 2-minute graph fixture was built twice), and starting the longest files first keeps
# both workers busy to the end instead of leaving one scenario running alone.
SLOW_FILES_FIRST: tuple[str, ...] = (
    "test_cli.py",
    "test_scenario.py",
    "test_cli_sql.py",
    "deploy/test_production_storage.py",
    "defs/test_pipeline.py",
    "test_ui.py",
    "monitoring/test_drift_report.py",
    "defs/test_promotion.py",
    "privacy/test_erase_cli.py",
    "model/test_recipe_beats_baseline.py",
    "defs/test_checks.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {name: i for i, name in enumerate(SLOW_FILES_FIRST)}

    def key(item: pytest.Item) -> int:
        path = item.nodeid.split("::", 1)[0].removeprefix("attrition_platform_tests/")
        return rank.get(path, len(SLOW_FILES_FIRST))

    items.sort(key=key)  # stable: every other file keeps its place and its tests their order
