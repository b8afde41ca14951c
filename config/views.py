"""Health endpoints for load balancers and orchestrators and the favicon (open to anyone, no
session), and django-axes' answer to a refused sign-in.

The health answers name the failing part and nothing more: an exception's text can hold host
names, ports and database roles, so it goes to the log only.
"""

import logging
import threading
import time

import redis
from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.db import connection
from django.http import HttpResponse, HttpResponsePermanentRedirect, JsonResponse
from django.templatetags.static import static
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from config.celery import app as celery_app

logger = logging.getLogger(__name__)

CHECK_TIMEOUT_SECONDS = 1.0
# Probes call /readyz every few seconds: a worker's answer (or its silence, which costs the
# whole timeout) is reused this long, so most calls hold a web worker for milliseconds.
WORKER_PING_REUSE_SECONDS = 15.0
_worker_ping = {"at": float("-inf"), "answered": False}
_worker_ping_lock = threading.Lock()


@require_GET
@never_cache
@login_not_required
def healthz(request):
    """The process is up and serving requests."""
    return JsonResponse({"status": "ok"})


def _check_database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


def _check_redis() -> None:
    client = redis.Redis.from_url(
        settings.REDIS_URL,
        socket_connect_timeout=CHECK_TIMEOUT_SECONDS,
        socket_timeout=CHECK_TIMEOUT_SECONDS,
    )
    try:
        client.ping()
    finally:
        client.close()


def _check_worker() -> None:
    with _worker_ping_lock:  # one ping at a time; the threads waiting here reuse its answer
        if time.monotonic() - _worker_ping["at"] > WORKER_PING_REUSE_SECONDS:
            # limit=1: the first worker's reply ends the wait.
            answered = bool(celery_app.control.ping(timeout=CHECK_TIMEOUT_SECONDS, limit=1))
            _worker_ping.update(at=time.monotonic(), answered=answered)
        answered = _worker_ping["answered"]
    if not answered:
        raise RuntimeError(f"no Celery worker answered a ping within {CHECK_TIMEOUT_SECONDS:g} s")


@require_GET
@never_cache
@login_not_required
def readyz(request):
    """PostgreSQL, Redis and at least one Celery worker answer; 503 naming what failed, not why."""
    checks = {"database": _check_database, "redis": _check_redis, "worker": _check_worker}
    results = {}
    for name, check in checks.items():
        try:
            check()
        except Exception:  # noqa: BLE001 - any failure makes the service unready
            logger.warning("Readiness check %s failed.", name, exc_info=True)
            results[name] = {"ok": False}
        else:
            results[name] = {"ok": True}
    ready = all(result["ok"] for result in results.values())
    return JsonResponse(
        {"status": "ok" if ready else "unavailable", "checks": results},
        status=200 if ready else 503,
    )


@require_GET
@login_not_required
def favicon(request):
    """Browsers ask for /favicon.ico whatever the page links; send them to the static icon."""
    return HttpResponsePermanentRedirect(static("favicon.svg"))


def login_locked_out(request, original_response: HttpResponse | None, credentials: dict | None) -> HttpResponse:
    """django-axes' answer to a refused sign-in: the login page itself, whose form says why
    (config.forms.ThrottledLoginMixin), as 429 Too Many Requests."""
    response = original_response or HttpResponse("Too many failed sign-ins. Try again later.")
    response.status_code = 429
    return response
