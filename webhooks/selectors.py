"""Reads of the webhooks app."""

from datetime import timedelta

from django.db.models import Count, OuterRef, Q, QuerySet, Subquery
from django.utils import timezone

from webhooks.http import USER_AGENT
from webhooks.models import Delivery, Endpoint

SUCCESS_RATE_WINDOW = timedelta(days=7)


def event_subscribers(*event_types: str) -> dict[str, list[int]]:
    """The enabled endpoints (ids) subscribed to each of `event_types`, in one query; a type
    nobody listens for is left out."""
    subscribers = {}
    endpoints = Endpoint.objects.filter(enabled=True, event_types__overlap=list(event_types)).order_by("pk")
    for endpoint_id, types in endpoints.values_list("pk", "event_types"):
        for event_type in set(event_types).intersection(types):
            subscribers.setdefault(event_type, []).append(endpoint_id)
    return subscribers


def endpoint_list() -> list[Endpoint]:
    """Endpoints with their last attempted delivery and success rate over the last 7 days
    (`success_rate` is None when no delivery finished in that window)."""
    last = Delivery.objects.filter(endpoint=OuterRef("pk"), last_attempt_at__isnull=False).order_by("-last_attempt_at")
    since = timezone.now() - SUCCESS_RATE_WINDOW
    recent = Q(deliveries__created_at__gte=since)
    endpoints = list(
        Endpoint.objects.annotate(
            last_attempt_at=Subquery(last.values("last_attempt_at")[:1]),
            last_status_code=Subquery(last.values("last_status_code")[:1]),
            last_response_ms=Subquery(last.values("last_response_ms")[:1]),
            last_error=Subquery(last.values("last_error")[:1]),
            succeeded=Count("deliveries", filter=recent & Q(deliveries__status=Delivery.Status.SUCCEEDED)),
            failed=Count("deliveries", filter=recent & Q(deliveries__status=Delivery.Status.FAILED)),
        )
    )
    for endpoint in endpoints:
        finished = endpoint.succeeded + endpoint.failed
        endpoint.success_rate = round(100 * endpoint.succeeded / finished) if finished else None
    return endpoints


def delivery_request_headers(*, delivery: Delivery) -> list[tuple[str, str]]:
    """The headers each attempt at `delivery` sends; the timestamp and signature are made per attempt."""
    return [
        ("content-type", "application/json"),
        ("user-agent", USER_AGENT),
        ("webhook-id", delivery.message_id),
        ("webhook-timestamp", "Unix seconds when the attempt is signed"),
        ("webhook-signature", "v1,<base64 HMAC-SHA256 of id.timestamp.body with the endpoint's secret>"),
    ]


def endpoint_deliveries(*, endpoint: Endpoint, status: str = "") -> QuerySet[Delivery]:
    """The delivery log of `endpoint`, newest first, optionally one status only."""
    deliveries = endpoint.deliveries.select_related("event").defer("event__payload").prefetch_related("attempt_log")
    return deliveries.filter(status=status) if status else deliveries


def delivery_latest_attempt(*, delivery: Delivery):
    return delivery.attempt_log.first()
