from django.utils import timezone

from webhooks import events
from webhooks.events import EVENT_TYPE_CHOICES
from webhooks.models import Delivery, Endpoint
from webhooks.services import delivery_send, emit
from webhooks.tests.receiver import Receiver, Reply

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


def delivery_failed_once_make(*, receiver: Receiver) -> Delivery:
    """A delivery whose first attempt got a 500 from a wrong path of `receiver`: its retry waits,
    and so does its endpoint (paused)."""
    receiver.script(Reply(status=500))
    endpoint_make(url=receiver.url + "/wrong")
    emit(events.PRODUCT_CREATED, {"products": []})
    delivery = Delivery.objects.select_related("endpoint").get()
    delivery_send(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    delivery.endpoint.refresh_from_db()
    return delivery
