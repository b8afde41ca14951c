from django.utils import timezone

from webhooks.events import EVENT_TYPE_CHOICES
from webhooks.models import Delivery, Endpoint

ALL_EVENT_TYPES = [value for value, _label in EVENT_TYPE_CHOICES]


def endpoint_make(*, url: str, event_types: list[str] | None = None, enabled: bool = True) -> Endpoint:
    return Endpoint.objects.create(
        url=url, description="test receiver", event_types=event_types or ALL_EVENT_TYPES, enabled=enabled
    )


def retry_time_arrives() -> None:
    """Fast-forward: every scheduled retry and endpoint pause is due now (instead of sleeping)."""
    now = timezone.now()
    Delivery.objects.filter(next_attempt_at__isnull=False).update(next_attempt_at=now)
    Endpoint.objects.update(paused_until=None)
