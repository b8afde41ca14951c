"""The application as production runs it, for benchmarks that time pages over HTTP.

`web_environment()` must run before `_django.setup()`: the benchmark process and the servers it
starts then share a SECRET_KEY, so a session the benchmark signs in is valid in gunicorn. The
servers run with DEBUG off on the benchmark database, started as the Procfile starts them.
"""

import os
import secrets
import socket
import statistics
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
# Untimed requests per case first: gunicorn hands each to any of its workers, and a worker's
# first request of a page imports and compiles what the page needs.
WARM_UP_REQUESTS = 9


def web_environment() -> None:
    os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(50))


def _server_environment() -> dict:
    from django.conf import settings

    database = settings.DATABASES["default"]
    return {
        **os.environ,
        "DEBUG": "false",
        "DATABASE_URL": f"postgres://{database['USER']}@{database['HOST']}:{database['PORT']}/{database['NAME']}",
        # The Redis database the benchmark queues its tasks on (_django.py): a worker started
        # here runs them against the benchmark database.
        "REDIS_URL": os.environ["CELERY_BROKER_URL"],
        "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_SSL_REDIRECT": "false",
        "STATIC_ROOT": str(ROOT / ".local" / "bench-static"),
        "API_THROTTLE_RATE": "1000000/minute",
    }


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_for(url: str, process: subprocess.Popen) -> None:
    import requests

    for _ in range(120):
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {process.returncode}")
        try:
            requests.get(url, timeout=5)
            return
        except requests.RequestException:
            time.sleep(0.25)
    raise RuntimeError("gunicorn did not answer within 30 s")


@contextmanager
def gunicorn(*, workers: int = 3):
    """Serve the application on a free port with `workers` sync workers; yields its base URL."""
    environment = _server_environment()
    subprocess.run(
        [VENV_BIN / "python", "manage.py", "collectstatic", "--noinput", "-v0"], cwd=ROOT, env=environment, check=True
    )
    port = _free_port()
    process = subprocess.Popen(
        [VENV_BIN / "gunicorn", "config.wsgi", "--bind", f"127.0.0.1:{port}", "--workers", str(workers)],
        cwd=ROOT, env=environment, stderr=subprocess.DEVNULL,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        _wait_for(f"{base}/healthz", process)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=30)


@contextmanager
def celery_worker(*, concurrency: int = 2):
    """A worker as the Procfile starts it, on the benchmark's database and queue."""
    process = subprocess.Popen(
        [VENV_BIN / "celery", "-A", "config", "worker", "--loglevel", "WARNING", "--concurrency", str(concurrency)],
        cwd=ROOT, env=_server_environment(), stderr=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
    )
    try:
        yield process
    finally:
        process.terminate()
        process.wait(timeout=60)


def staff_user():
    """The benchmark's staff user (a superuser)."""
    from django.contrib.auth import get_user_model

    return get_user_model().objects.update_or_create(username="bench", defaults={"is_staff": True, "is_superuser": True})[0]


def staff_session():
    """A requests session signed in as the benchmark's staff user."""
    import requests
    from django.test import Client

    client = Client()
    client.force_login(staff_user())
    session = requests.Session()
    session.cookies.set("sessionid", client.cookies["sessionid"].value)
    return session


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def timed_get(session, url: str, **kwargs) -> tuple[float, object]:
    """One GET, its time in ms and the response; anything but a 200 stops the benchmark."""
    started = time.perf_counter()
    response = session.get(url, allow_redirects=False, **kwargs)
    elapsed = (time.perf_counter() - started) * 1000
    if response.status_code != 200:
        raise RuntimeError(f"GET {url}: {response.status_code}")
    return elapsed, response


def timed_runs(session, url: str, runs: int, **kwargs) -> tuple[list[float], object]:
    """`runs` GETs after a few that warm every worker; their times and the last response."""
    for _ in range(WARM_UP_REQUESTS):
        timed_get(session, url, **kwargs)
    timings, response = [], None
    for _ in range(runs):
        elapsed, response = timed_get(session, url, **kwargs)
        timings.append(elapsed)
    return timings, response


def summary(timings: list[float]) -> str:
    return f"{statistics.median(timings):8.1f} {percentile(timings, 0.95):8.1f}"
