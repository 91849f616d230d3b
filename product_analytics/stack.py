"""The local stack as plain processes: gateway, identity worker(s) and loader.

`up` starts whatever is not running (logs and pid files under data/) and returns when every
service answers; `down` stops them gently (gateway first, loader last so it drains) and keeps
all data. Kafka is started and stopped by deploy/kafka/kafka.sh.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from product_analytics.config import REPO_ROOT, Settings

STARTUP_TIMEOUT_S = 120
STOP_TIMEOUT_S = 30




def _services(workers: int) -> list[tuple[str, list[str]]]:
    cli = [sys.executable, "-m", "product_analytics.cli"]
    services = [("loader", [*cli, "loader"])]
    services += [(f"worker-{i}", [*cli, "worker", "--name", f"local-{i}"])
                 for i in range(1, workers + 1)]
    services.append(("gateway", [*cli, "gateway"]))
    return services


def _pid(data_dir: Path, name: str) -> int | None:
    path = data_dir / "run" / f"{name}.pid"
    try:
        pid = int(path.read_text())
        os.kill(pid, 0)
    except (OSError, ValueError):
        return None
    return pid if _is_ours(pid) else None


def _is_ours(pid: int) -> bool:
    """The pid runs one of our services: not a pid reused after a reboot, not a killed
    service lingering unreaped (a zombie)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z" and b"product_analytics.cli" in cmdline


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def _healthy(settings: Settings, name: str, log_from: int = 0) -> bool:
    if name == "gateway":
        return _answers(f"http://{settings.gateway_host}:{settings.gateway_port}/_ready")
    if name == "loader" and not settings.clickhouse_url:
        return _answers(settings.sql_url + "/ping")
    log = settings.data_dir / "logs" / f"{name}.log"
    marker = "worker started" if name.startswith("worker") else "loader restored"
    if not log.exists():
        return False
    with open(log, "rb") as f:
        f.seek(log_from)
        return marker.encode() in f.read()


def up(settings: Settings, workers: int) -> int:
    data = settings.data_dir
    for sub in ("run", "logs"):
        (data / sub).mkdir(parents=True, exist_ok=True)
    for name, argv in _services(workers):
        running = _pid(data, name)
        if running:
            print(f"{name}: already running (pid {running})")
            continue
        log_path = data / "logs" / f"{name}.log"
        log_from = log_path.stat().st_size if log_path.exists() else 0
        with open(log_path, "ab") as log:
            process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT,
                                       stdin=subprocess.DEVNULL, start_new_session=True,
                                       cwd=REPO_ROOT)
        (data / "run" / f"{name}.pid").write_text(str(process.pid))
        print(f"{name}: started (pid {process.pid}, log {log_path})")
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while not _healthy(settings, name, log_from):
            if process.poll() is not None or time.monotonic() > deadline:
                print(f"{name}: failed to become healthy; last lines of {log_path}:",
                      file=sys.stderr)
                lines = log_path.read_text(errors="replace").splitlines()[-25:]
                print("\n".join(lines), file=sys.stderr)
                return 1
            time.sleep(0.3)
        print(f"{name}: healthy")
    print(f"stack ready: gateway http://{settings.gateway_host}:{settings.gateway_port} "
          f"sql {settings.sql_url}")
    return 0


def down(settings: Settings) -> int:
    data = settings.data_dir
    run = data / "run"
    names = sorted(p.stem for p in run.glob("*.pid")) if run.exists() else []
    order = sorted(names, key=lambda n: (n != "gateway", n.startswith("loader"), n))
    for name in order:
        pid = _pid(data, name)
        if pid is None:
            (run / f"{name}.pid").unlink(missing_ok=True)
            continue
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT_S
        while _pid(data, name) and time.monotonic() < deadline:
            time.sleep(0.2)
        if _pid(data, name):
            os.kill(pid, signal.SIGKILL)
            print(f"{name}: killed after {STOP_TIMEOUT_S}s")
        else:
            print(f"{name}: stopped")
        (run / f"{name}.pid").unlink(missing_ok=True)
    return 0


def status(settings: Settings) -> int:
    run = settings.data_dir / "run"
    names = sorted(p.stem for p in run.glob("*.pid")) if run.exists() else []
    bad = 0
    for name in names:
        pid = _pid(settings.data_dir, name)
        state = "healthy" if pid and _healthy(settings, name) else (
            "running" if pid else "stopped")
        bad += state != "healthy"
        print(f"{name}: {state}" + (f" (pid {pid})" if pid else ""))
    return 1 if bad or not names else 0


def main(settings: Settings, action: str, workers: int = 1) -> int:
    if action == "up":
        return up(settings, workers)
    if action == "down":
        return down(settings)
    return status(settings)
