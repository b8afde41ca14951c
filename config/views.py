"""Health endpoints for load balancers and orchestrators, and the favicon: open to anyone, no session."""

import redis
from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.db import connection
from django.http import HttpResponsePermanentRedirect, JsonResponse
from django.templatetags.static import static
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from config.celery import app as celery_app

CHECK_TIMEOUT_SECONDS = 2.0


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
    if not celery_app.control.ping(timeout=CHECK_TIMEOUT_SECONDS):
        raise RuntimeError(f"no Celery worker answered a ping within {CHECK_TIMEOUT_SECONDS:g} s")


@require_GET
@never_cache
@login_not_required
def readyz(request):
    """PostgreSQL, Redis and at least one Celery worker answer; 503 naming what failed."""
    checks = {"database": _check_database, "redis": _check_redis, "worker": _check_worker}
    results = {}
    for name, check in checks.items():
        try:
            check()
        except Exception as exc:  # noqa: BLE001 - any failure makes the service unready
            results[name] = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
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
