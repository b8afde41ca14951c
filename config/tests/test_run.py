"""`make run` as a developer uses it, on the tests' database and a Redis database of its own."""

import os
import re
import signal
import subprocess
from pathlib import Path

import pytest
import requests
from django.conf import settings
from django.contrib.auth import get_user_model

from config.tests.processes import database_url, free_port, process_stop, redis_url, wait_for

REDIS_DATABASE = 13


def group_processes(group: int) -> list[int]:
    """The processes still in a process group (`make`, the script and everything it started)."""
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue  # ended while we looked
        if int(fields[2]) == group:
            pids.append(int(stat.parent.name))
    return pids


def answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=30).status_code == 200
    except (requests.ConnectionError, requests.Timeout):  # not listening, or still starting
        return False


@pytest.mark.django_db(transaction=True)
def test_make_run_serves_hides_the_generated_password_and_stops_cleanly_on_ctrl_c(tmp_path):
    """The URL answers; the generated staff password is printed once but is in no process's
    environment; Ctrl-C (SIGINT to the process group) stops without a make error and leaves nothing running."""
    port = free_port()
    broker = redis_url(REDIS_DATABASE)
    env = {**os.environ, "DATABASE_URL": database_url(), "REDIS_URL": broker, "CELERY_BROKER_URL": broker,
           "PORT": str(port), "WEB_CONCURRENCY": "1", "CELERY_CONCURRENCY": "1",
           "MEDIA_ROOT": str(tmp_path / "media")}  # fmt: skip
    env.pop("DJANGO_SUPERUSER_PASSWORD", None)
    log = tmp_path / "run.log"
    with open(log, "wb") as output:
        run = subprocess.Popen(["make", "--no-print-directory", "run"], cwd=settings.BASE_DIR, env=env,
                               stdout=output, stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
    try:
        wait_for(lambda: answers(f"http://127.0.0.1:{port}/healthz"), 180, f"make run to serve:\n{log.read_text()}")
        password = re.search(r"Created staff user 'admin' with password '([^']+)' \(shown once\)", log.read_text())
        assert password, log.read_text()
        assert get_user_model().objects.get(username="admin").check_password(password[1])
        running = wait_for(lambda: len(pids := group_processes(run.pid)) >= 6 and pids, 60, "web, worker and beat")
        for pid in running:
            environment = Path(f"/proc/{pid}/environ").read_bytes()
            assert b"DJANGO_SUPERUSER_PASSWORD" not in environment
            assert password[1].encode() not in environment
    finally:
        status = process_stop(run, signal.SIGINT)
    output = log.read_text()
    # make received the SIGINT too: it exits 0 or dies of it (the shell says 130), as any program
    # stopped with Ctrl-C, depending on whether the script had ended when it looked.
    assert status in (0, -signal.SIGINT), output[-3000:]
    assert "make: ***" not in output, output[-3000:]
    assert group_processes(run.pid) == []
