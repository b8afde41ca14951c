"""Helpers for tests that start the app's own processes (gunicorn, Celery, `make run`) on the
tests' database, each with a Redis database of its own so the session's worker keeps its tasks."""

import os
import signal
import socket
import subprocess
import time
from urllib.parse import urlsplit, urlunsplit

import pytest
import redis
from django.conf import settings
from django.db import connection


def database_url() -> str:
    """The test database as a DATABASE_URL for a child process."""
    params = connection.settings_dict
    password = f":{params['PASSWORD']}" if params["PASSWORD"] else ""
    return f"postgres://{params['USER']}{password}@{params['HOST']}:{params['PORT']}/{params['NAME']}"


def redis_url(database: int) -> str:
    """REDIS_URL's server with another database number, flushed of what an interrupted run left."""
    url = urlunsplit(urlsplit(settings.REDIS_URL)._replace(path=f"/{database}"))
    redis.Redis.from_url(url).flushdb()
    return url


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for(condition, timeout: float, what: str):
    """Poll until `condition()` is truthy and return it; generous limits, the machine may be loaded."""
    deadline = time.monotonic() + timeout
    while not (result := condition()):
        if time.monotonic() > deadline:
            pytest.fail(f"Timed out after {timeout:.0f} s waiting for {what}.")
        time.sleep(0.1)
    return result


def broker_wait_until_idle(url: str, timeout: float = 120.0) -> None:
    """Wait until a worker has taken and acknowledged every task on the broker at `url`, so none
    runs while the database is emptied. Idle twice in a row: a finishing task may queue another."""
    broker = redis.Redis.from_url(url)
    idle_checks = 0

    def idle_twice() -> bool:
        nonlocal idle_checks
        idle_checks = 0 if broker.llen("celery") or broker.hlen("unacked") else idle_checks + 1
        return idle_checks >= 2

    wait_for(idle_twice, timeout, "the worker to finish its tasks")


def process_stop(process: subprocess.Popen, stop_signal: int = signal.SIGTERM, timeout: float = 60.0) -> int:
    """Stop a process started in a session of its own, and everything it started."""
    try:
        os.killpg(process.pid, stop_signal)
        return process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        return process.wait()
    except ProcessLookupError:
        return process.wait()
