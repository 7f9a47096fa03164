"""Run the docker-compose.yml deployment as local processes; `make serve` and `make stop` call it.

PostgreSQL (the OS package, a cluster of our own) holds the Airflow metadata; Airflow's
api-server, scheduler, dag-processor and triggerer run with the LocalExecutor, as in
docker-compose.yml. Both read the same settings: ``deploy/airflow.env`` (shared, committed) and
the env file (``.env``: secrets and your settings, never committed). Only what depends on where a
component runs differs (paths, hosts, ports, the database URL): ``airflow_env`` below sets it, and
tests/test_compose.py checks that nothing else differs.

Each component gets its own ``airflow.cfg``, as each container has its own: a setting that is not
shared through the environment (the JWT secret, say) differs between components here too.

    python deploy/serve.py start --dir DIR [--env-file .env] [--api-port 8080] [--pg-port 5433]
    python deploy/serve.py stop --dir DIR
    python deploy/serve.py new-env-file .env    # fresh random secrets, printed nowhere

Everything lives under DIR (the cluster may live elsewhere: ``--pg-dir``): ``logs/<component>.log``
(stdout and stderr), ``run/<component>.pid`` (each component leads its own process group),
``airflow/`` (AIRFLOW_HOME: task logs, configs, the API passwords file), ``serve.json`` (ports).
Nothing here prints a secret; log tails shown on a failure have every .env secret masked.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import glob
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parents[1]
#: Settings every component reads, in docker-compose.yml (``env_file``) and here.
SHARED_ENV = ROOT / "deploy" / "airflow.env"
#: One-shot set-up (migrate, writer pool, API login): compose's airflow-init runs it too.
INIT_SCRIPT = ROOT / "deploy" / "airflow-init.sh"
ENV_TEMPLATE = ROOT / ".env.example"
BIN = Path(sys.executable).parent

#: The Airflow components of docker-compose.yml, in start order, with their command lines. The
#: scheduler and triggerer skip their log servers (those bind every interface): every component
#: here shares one log folder, as the compose services share ./logs.
COMPONENTS: dict[str, tuple[str, ...]] = {
    "api-server": ("api-server",),
    "scheduler": ("scheduler", "--skip-serve-logs"),
    "dag-processor": ("dag-processor",),
    "triggerer": ("triggerer", "--skip-serve-logs"),
}
#: Health keys of GET /api/v2/monitor/health that must say "healthy" before `serve` returns.
HEALTH_KEYS = ("metadatabase", "scheduler", "dag_processor", "triggerer")


def _fernet_key() -> str:
    return base64.urlsafe_b64encode(os.urandom(32)).decode()


def _token() -> str:
    return secrets.token_urlsafe(32)


#: The secrets .env must hold (docker-compose.yml requires the same), and how to make a fresh one.
SECRETS: dict[str, Callable[[], str]] = {
    "POSTGRES_PASSWORD": _token,
    "AIRFLOW__CORE__FERNET_KEY": _fernet_key,
    # every component signs or checks the API's tokens with it: without one shared value each
    # generates its own, and every task fails with "Signature verification failed"
    "AIRFLOW__API_AUTH__JWT_SECRET": _token,
    "AIRFLOW__API__SECRET_KEY": _token,
    "AIRFLOW_ADMIN_PASSWORD": _token,
}
DB_USER = DB_NAME = "airflow"
#: Bounds of the waits (seconds); a wait past its bound fails with the component's log tail.
START_TIMEOUT = 300
STOP_TIMEOUT = 60


class ServeError(RuntimeError):
    """A problem the user can act on; the message says what to do."""


@dataclass(frozen=True)
class Settings:
    dir: Path
    env_file: Path
    api_port: int
    pg_port: int
    pg_dir: Path
    health_port: int

    @property
    def airflow_home(self) -> Path:
        return self.dir / "airflow"

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    def log(self, name: str) -> Path:
        return self.dir / "logs" / f"{name}.log"

    def pid_file(self, name: str) -> Path:
        return self.dir / "run" / f"{name}.pid"


# --- settings ------------------------------------------------------------------------------------


def read_env_file(path: Path) -> dict[str, str]:
    """``KEY=VALUE`` lines as docker compose reads an env file (python-dotenv)."""
    from dotenv import dotenv_values

    return {k: v for k, v in dotenv_values(path, interpolate=False).items() if v is not None}


def new_env_file(path: Path) -> None:
    """Write ``path`` from .env.example with a fresh random value for every secret (mode 600)."""
    lines = []
    for line in ENV_TEMPLATE.read_text().splitlines():
        key, sep, value = line.partition("=")
        if sep and key in SECRETS and not value:
            line = f"{key}={SECRETS[key]()}"
        lines.append(line)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write("\n".join(lines) + "\n")


def airflow_env(settings: Settings, dotenv: dict[str, str]) -> dict[str, str]:
    """What every component's environment holds on top of the caller's: the shared settings, the
    env file, then what depends on running here rather than in a container."""
    password = quote(dotenv.get("POSTGRES_PASSWORD", ""), safe="")
    home = settings.airflow_home
    local = {
        # -- differ from docker-compose.yml's values (hosts, ports, paths)
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": (
            f"postgresql+psycopg2://{DB_USER}:{password}@127.0.0.1:{settings.pg_port}/{DB_NAME}"
        ),
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{settings.api_url}/execution/",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(
            home / "simple_auth_manager_passwords.json"
        ),
        "LEADSCORE_HOME": os.environ.get("LEADSCORE_HOME", str(ROOT)),
        "LEADSCORE_WAREHOUSE": os.environ.get(
            "LEADSCORE_WAREHOUSE", str(ROOT / "data" / "warehouse.duckdb")
        ),
        "LEADSCORE_LANDING_DIR": os.environ.get(
            "LEADSCORE_LANDING_DIR", str(ROOT / "data" / "landing")
        ),
        # -- the image's defaults in docker-compose.yml
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(settings.api_port),
        "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_HOST": "127.0.0.1",
        "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_PORT": str(settings.health_port),
        # -- marks every process of this deployment, so `stop` can find one that left its group
        "LEADSCORE_SERVE_DIR": str(settings.dir),
    }
    return {**read_env_file(SHARED_ENV), **dotenv, **local}


def _process_env(settings: Settings, dotenv: dict[str, str], config_name: str) -> dict[str, str]:
    # Airflow settings come only from the files above, as in a container: none leaks in from the
    # caller (the Makefile's own AIRFLOW_HOME, say)
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("AIRFLOW__") and k not in ("AIRFLOW_HOME", "AIRFLOW_CONFIG")
    }
    env.update(airflow_env(settings, dotenv))
    env["AIRFLOW_CONFIG"] = str(settings.airflow_home / "config" / f"{config_name}.cfg")
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    return env


def load_dotenv_checked(path: Path) -> dict[str, str]:
    values = read_env_file(path)
    missing = [key for key in SECRETS if not values.get(key)]
    if missing:
        raise ServeError(
            f"{path} has no value for {', '.join(missing)} (docker-compose.yml needs them too). "
            "Add them: `python3 deploy/serve.py new-env-file /tmp/fresh.env` writes a file with "
            "fresh random values to copy from. Or move the file away: `make serve` writes a new "
            "one (a new POSTGRES_PASSWORD needs a new PostgreSQL cluster)."
        )
    return values


class Redactor:
    """Masks every secret of the env file in text shown to the user."""

    def __init__(self, values: Iterable[str]):
        self.values = sorted((v for v in values if len(v) >= 6), key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for value in self.values:
            text = text.replace(value, "***")
        return text


def _tail(path: Path, redact: Redactor, lines: int = 30) -> str:
    if not path.exists():
        return f"(no log at {path})"
    text = "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    return f"last lines of {path}:\n{redact(text)}"


def port_free(port: int) -> bool:
    """Whether a server could listen on ``port`` of 127.0.0.1 (as servers do, past TIME_WAIT)."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- PostgreSQL ----------------------------------------------------------------------------------


def pg_bin() -> Path:
    """The newest PostgreSQL server binaries of the OS packages."""
    found = sorted(
        (Path(p).parent for p in glob.glob("/usr/lib/postgresql/*/bin/initdb")),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
    )
    if not found:
        raise ServeError(
            "PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb): "
            "`make postgres` installs it (apt-get install postgresql)"
        )
    return found[-1]


def _as_postgres(cmd: list[str]) -> list[str]:
    # PostgreSQL refuses to run as root: the OS package's `postgres` user runs it then
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


def _pg_ctl(settings: Settings, *args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(
        _as_postgres([str(pg_bin() / "pg_ctl"), "-D", str(settings.pg_dir), *args]),
        check=False,
        **kwargs,
    )


def _pg_running(settings: Settings) -> bool:
    if not (settings.pg_dir / "PG_VERSION").exists():
        return False
    return _pg_ctl(settings, "status", capture_output=True).returncode == 0


def pg_start(settings: Settings, dotenv: dict[str, str], redact: Redactor) -> None:
    pg_dir = settings.pg_dir
    if not (pg_dir / "PG_VERSION").exists():
        pg_dir.mkdir(parents=True, exist_ok=True)
        pg_dir.chmod(0o700)
        if os.geteuid() == 0:
            shutil.chown(pg_dir, "postgres", "postgres")
        reach = subprocess.run(_as_postgres(["test", "-w", str(pg_dir)]), check=False)
        if reach.returncode != 0:
            raise ServeError(
                f"the `postgres` user cannot write {pg_dir} (a parent folder is closed to it): "
                "point SERVE_PG_DIR at a folder it can reach, e.g. under /var/tmp"
            )
        fd, pwfile = tempfile.mkstemp(prefix="pgpass-")
        try:
            os.write(fd, dotenv["POSTGRES_PASSWORD"].encode())
            os.close(fd)
            if os.geteuid() == 0:
                shutil.chown(pwfile, "postgres")
            init = subprocess.run(
                _as_postgres(
                    [
                        str(pg_bin() / "initdb"),
                        "-D",
                        str(pg_dir),
                        f"--username={DB_USER}",
                        f"--pwfile={pwfile}",
                        "--auth=scram-sha-256",
                        "--encoding=UTF8",
                        "--locale=C",
                    ]
                ),
                capture_output=True,
                text=True,
                check=False,
            )
        finally:
            os.unlink(pwfile)
        if init.returncode != 0:
            raise ServeError(f"initdb {pg_dir} failed:\n{redact(init.stdout + init.stderr)}")
    log = settings.log("postgres")
    with log.open("a") as out:
        # TCP on 127.0.0.1 only, no Unix socket (its path would be long and shared)
        started = _pg_ctl(
            settings,
            "start",
            "-w",
            "-t",
            str(START_TIMEOUT),
            "-o",
            f"-p {settings.pg_port} -c listen_addresses=127.0.0.1 -c unix_socket_directories=''",
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    if started.returncode != 0:
        raise ServeError(f"PostgreSQL did not start. {_tail(log, redact)}")
    _ensure_database(settings, dotenv)


def _ensure_database(settings: Settings, dotenv: dict[str, str]) -> None:
    import psycopg2

    try:
        con = psycopg2.connect(
            host="127.0.0.1",
            port=settings.pg_port,
            user=DB_USER,
            password=dotenv["POSTGRES_PASSWORD"],
            dbname="postgres",
        )
    except psycopg2.OperationalError as err:
        if "password authentication failed" in str(err):
            raise ServeError(
                f"PostgreSQL in {settings.pg_dir} refused POSTGRES_PASSWORD of "
                f"{settings.env_file}: the cluster was made with another one. Put the old "
                f"password back, or `make stop` and delete {settings.pg_dir} (and with it "
                "Airflow's run history) to start afresh"
            ) from None
        raise
    con.autocommit = True  # create database runs outside a transaction
    try:
        with con.cursor() as cur:
            cur.execute("select 1 from pg_database where datname = %s", (DB_NAME,))
            if cur.fetchone() is None:
                cur.execute(f'create database "{DB_NAME}"')
    finally:
        con.close()


def pg_stop(settings: Settings) -> None:
    if _pg_running(settings):
        stopped = _pg_ctl(
            settings, "stop", "-m", "fast", "-w", "-t", str(STOP_TIMEOUT), capture_output=True
        )
        if stopped.returncode != 0:
            raise ServeError(
                f"PostgreSQL in {settings.pg_dir} did not stop: {stopped.stderr.decode()}"
            )


# --- processes -----------------------------------------------------------------------------------


def _group_alive(pgid: int) -> bool:
    """Whether a process group has a live (not zombie) member."""
    import psutil

    for proc in psutil.process_iter(["status"]):
        with contextlib.suppress(psutil.Error, ProcessLookupError):
            if os.getpgid(proc.pid) == pgid and proc.info["status"] != psutil.STATUS_ZOMBIE:
                return True
    return False


def _read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None


def running_components(settings: Settings) -> dict[str, int]:
    found = {}
    for name in COMPONENTS:
        pid = _read_pid(settings.pid_file(name))
        if pid is not None and _group_alive(pid):
            found[name] = pid
    return found


def _stop_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT
    while time.monotonic() < deadline and _group_alive(pgid):
        time.sleep(0.5)
    if _group_alive(pgid):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)


def stragglers(serve_dir: Path) -> list:
    """Live processes of the deployment in ``serve_dir`` (they carry LEADSCORE_SERVE_DIR)."""
    import psutil

    found = []
    for proc in psutil.process_iter(["environ", "status"]):
        with contextlib.suppress(psutil.Error):
            env = proc.info["environ"] or {}
            if (
                env.get("LEADSCORE_SERVE_DIR") == str(serve_dir)
                and proc.info["status"] != psutil.STATUS_ZOMBIE
                and proc.pid != os.getpid()
            ):
                found.append(proc)
    return found


def _http_json(url: str, timeout: float = 5) -> dict | None:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return json.load(response)
    except (OSError, urllib.error.URLError, ValueError):
        return None


def _wait_healthy(settings: Settings, pids: dict[str, int], redact: Redactor) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    health: dict | None = None
    while time.monotonic() < deadline:
        for name, pid in pids.items():
            if not _group_alive(pid):
                raise ServeError(
                    f"{name} exited while starting. {_tail(settings.log(name), redact)}"
                )
        health = _http_json(f"{settings.api_url}/api/v2/monitor/health")
        if health and all((health.get(k) or {}).get("status") == "healthy" for k in HEALTH_KEYS):
            return
        time.sleep(2)
    logs = "\n".join(_tail(settings.log(name), redact, 10) for name in pids)
    raise ServeError(
        f"not healthy after {START_TIMEOUT} s (GET /api/v2/monitor/health: {health}).\n{logs}"
    )


# --- commands ------------------------------------------------------------------------------------


def start(settings: Settings) -> None:
    for folder in (settings.dir / "logs", settings.dir / "run", settings.airflow_home / "config"):
        folder.mkdir(parents=True, exist_ok=True)
    running = running_components(settings)
    if running and len(running) == len(COMPONENTS):
        print(f"already running: {settings.api_url} (`make stop` ends it)")
        return
    if running or _pg_running(settings):
        raise ServeError(
            f"a deployment in {settings.dir} is partly running "
            f"({', '.join(running) or 'PostgreSQL'}): `make stop` first"
        )
    if not settings.env_file.exists():
        new_env_file(settings.env_file)
        print(f"wrote {settings.env_file} with fresh random secrets (mode 600; not shown)")
    dotenv = load_dotenv_checked(settings.env_file)
    redact = Redactor(dotenv[key] for key in SECRETS)
    for port, variable in (
        (settings.api_port, "SERVE_API_PORT"),
        (settings.pg_port, "SERVE_PG_PORT"),
        (settings.health_port, "the scheduler's health check"),
    ):
        if not port_free(port):
            raise ServeError(f"port {port} on 127.0.0.1 is in use: set {variable} to a free one")
    (settings.dir / "serve.json").write_text(
        json.dumps(
            {
                "api_url": settings.api_url,
                "api_port": settings.api_port,
                "pg_port": settings.pg_port,
                "pg_dir": str(settings.pg_dir),
                "health_port": settings.health_port,
                "env_file": str(settings.env_file),
            },
            indent=2,
        )
    )
    try:
        print(
            f"PostgreSQL {pg_bin().parent.name} on 127.0.0.1:{settings.pg_port} ({settings.pg_dir})"
        )
        pg_start(settings, dotenv, redact)
        print("airflow-init: db migrate, writer pool, API login")
        init_log = settings.log("airflow-init")
        with init_log.open("w") as out:
            init = subprocess.run(
                ["bash", str(INIT_SCRIPT)],
                env=_process_env(settings, dotenv, "airflow-init"),
                cwd=ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
                check=False,
            )
        if init.returncode != 0:
            raise ServeError(f"airflow-init failed. {_tail(init_log, redact)}")
        pids = {}
        for name, args in COMPONENTS.items():
            with settings.log(name).open("a") as out:
                proc = subprocess.Popen(
                    [str(BIN / "airflow"), *args],
                    env=_process_env(settings, dotenv, name),
                    cwd=ROOT,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,  # its own process group: `stop` ends all of it
                )
            settings.pid_file(name).write_text(f"{proc.pid}\n")
            pids[name] = proc.pid
        print(f"started {', '.join(COMPONENTS)}; waiting until each is healthy")
        _wait_healthy(settings, pids, redact)
    except BaseException:
        stop(settings, quiet=True)
        raise
    user = read_env_file(SHARED_ENV)["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS"].split(":")[0]
    print(
        f"Airflow is up: {settings.api_url} (user {user}, password AIRFLOW_ADMIN_PASSWORD in "
        f"{settings.env_file})\nlogs: {settings.dir / 'logs'}; `make stop` ends it"
    )


def stop(settings: Settings, quiet: bool = False) -> None:
    stopped = []
    for name in reversed(COMPONENTS):
        pid = _read_pid(settings.pid_file(name))
        if pid is not None and _group_alive(pid):
            _stop_group(pid)
            stopped.append(name)
        settings.pid_file(name).unlink(missing_ok=True)
    for proc in stragglers(settings.dir):  # a process that left its component's group
        with contextlib.suppress(Exception):
            proc.kill()
        stopped.append(f"pid {proc.pid}")
    if _pg_running(settings):
        pg_stop(settings)
        stopped.append("PostgreSQL")
    if not quiet:
        print(f"stopped {', '.join(stopped)}" if stopped else f"nothing running in {settings.dir}")


def _settings(args: argparse.Namespace) -> Settings:
    serve_dir = Path(args.dir).resolve()
    state_file = serve_dir / "serve.json"
    state = json.loads(state_file.read_text()) if state_file.exists() else {}
    pg_dir = args.pg_dir or state.get("pg_dir") or serve_dir / "postgres"
    return Settings(
        dir=serve_dir,
        env_file=Path(args.env_file or state.get("env_file") or ROOT / ".env").resolve(),
        api_port=args.api_port or state.get("api_port") or 8080,
        pg_port=args.pg_port or state.get("pg_port") or 5433,
        pg_dir=Path(pg_dir).resolve(),
        health_port=args.health_port or free_port(),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("start", "stop"):
        cmd = sub.add_parser(name)
        cmd.add_argument("--dir", required=True, help="the deployment's folder")
        cmd.add_argument("--env-file", help="secrets and settings (default .env)")
        cmd.add_argument("--api-port", type=int, help="api-server port (default 8080)")
        cmd.add_argument("--pg-port", type=int, help="PostgreSQL port (default 5433)")
        cmd.add_argument("--pg-dir", help="PostgreSQL cluster folder (default DIR/postgres)")
        cmd.add_argument("--health-port", type=int, help="scheduler health check (default: free)")
    new = sub.add_parser("new-env-file", help="write an env file with fresh random secrets")
    new.add_argument("path")
    args = parser.parse_args(argv)
    try:
        if args.command == "new-env-file":
            new_env_file(Path(args.path))
            print(f"wrote {args.path} with fresh random secrets (mode 600; not shown)")
        elif args.command == "start":
            start(_settings(args))
        else:
            stop(_settings(args))
    except FileExistsError as err:
        print(f"error: {err.filename} exists; it is never overwritten", file=sys.stderr)
        return 1
    except ServeError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
