"""A throwaway PostgreSQL cluster on 127.0.0.1 (Debian's `postgresql` server binaries), for tests.

`initdb` refuses to run as root, so under root the cluster belongs to the unprivileged `nobody`
account; its data directory is a fresh temp dir. Password (SCRAM) authentication over TCP only, no
Unix socket, durability switched off (a test cluster): `stop()` removes everything.
"""

from __future__ import annotations

import os
import pwd
import re
import secrets
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from dataprep_assets_tests.deployment.net import free_port

MISSING = (
    "PostgreSQL server binaries (initdb, pg_ctl) not found: install Debian's `postgresql` package (`make system-deps`)"
)


def postgres_bindir() -> Path:
    """The newest installed server's bin directory (Debian keeps it off PATH)."""
    found = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(re.sub(r"\D", "", p.parts[-3]) or 0)
    )
    if found:
        return found[-1].parent
    initdb = shutil.which("initdb")
    if initdb and shutil.which("pg_ctl"):
        return Path(initdb).resolve().parent
    raise RuntimeError(MISSING)


@dataclass
class PostgresCluster:
    user: str = "dagster"
    database: str = "dagster"
    password: str = field(default_factory=lambda: secrets.token_hex(12))
    port: int = 0
    """Chosen by `start()` (a free loopback port)."""
    root: Path | None = None

    @property
    def datadir(self) -> Path:
        return self.root / "data"

    @property
    def logfile(self) -> Path:
        return self.root / "postgres.log"

    def _run(self, *args: str) -> subprocess.CompletedProcess:
        kwargs = {}
        if os.geteuid() == 0:
            account = pwd.getpwnam("nobody")
            kwargs = {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": []}
        env = {"PATH": os.environ.get("PATH", ""), "LC_ALL": "C", "HOME": str(self.root)}
        result = subprocess.run(args, capture_output=True, text=True, env=env, cwd=self.root, **kwargs)
        if result.returncode != 0:
            log = self.logfile.read_text() if self.logfile.exists() else ""
            raise RuntimeError(
                f"{' '.join(args[:2])} failed ({result.returncode}):\n{result.stdout}{result.stderr}{log}"
            )
        return result

    def start(self) -> PostgresCluster:
        try:
            return self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self) -> PostgresCluster:
        bindir = postgres_bindir()
        self.root = Path(tempfile.mkdtemp(prefix="dataprep-pg-"))
        pwfile = self.root / "pwfile"
        pwfile.write_text(self.password + "\n")
        pwfile.chmod(0o600)
        if os.geteuid() == 0:
            account = pwd.getpwnam("nobody")
            for path in (self.root, pwfile):
                os.chown(path, account.pw_uid, account.pw_gid)
        self._run(
            str(bindir / "initdb"),
            "-D",
            str(self.datadir),
            "-U",
            self.user,
            f"--pwfile={pwfile}",
            "--auth-local=scram-sha-256",
            "--auth-host=scram-sha-256",
            "--encoding=UTF8",
            "--no-locale",
            "--no-sync",
        )
        for attempt in range(3):  # a free port can be taken between choosing it and binding it
            self.port = free_port()
            options = (
                f"-c listen_addresses=127.0.0.1 -p {self.port} -c unix_socket_directories='' "
                "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=50"
            )
            try:
                self._run(
                    str(bindir / "pg_ctl"),
                    "-D",
                    str(self.datadir),
                    "-l",
                    str(self.logfile),
                    "-o",
                    options,
                    "-w",
                    "-t",
                    "60",
                    "start",
                )
                break
            except RuntimeError as exc:
                if attempt == 2 or "could not bind" not in str(exc):
                    raise
        if self.database != "postgres":
            conn = self.connect("postgres")
            try:
                conn.autocommit = True
                with conn.cursor() as cur:
                    cur.execute(f'CREATE DATABASE "{self.database}"')
            finally:
                conn.close()
        return self

    def stop(self) -> None:
        if self.root is None:
            return
        try:
            if (self.datadir / "postmaster.pid").exists():
                self._run(
                    str(postgres_bindir() / "pg_ctl"), "-D", str(self.datadir), "-m", "fast", "-w", "-t", "60", "stop"
                )
        finally:
            shutil.rmtree(self.root, ignore_errors=True)
            self.root = None

    def connect(self, database: str | None = None):
        import psycopg2

        return psycopg2.connect(
            host="127.0.0.1", port=self.port, user=self.user, password=self.password, dbname=database or self.database
        )

    def dagster_env(self) -> dict[str, str]:
        """The variables deploy/dagster.prod.yaml reads its Postgres storage from."""
        return {
            "DAGSTER_POSTGRES_HOST": "127.0.0.1",
            "DAGSTER_POSTGRES_PORT": str(self.port),
            "DAGSTER_POSTGRES_DB": self.database,
            "DAGSTER_POSTGRES_USER": self.user,
            "DAGSTER_POSTGRES_PASSWORD": self.password,
        }
