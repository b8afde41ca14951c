from webhooks.events import EVENT_TYPE_CHOICES
from webhooks.models import Endpoint

ALL_EVENT_TYPES = [value for value, _label in EVENT_TYPE_CHOICES]


def endpoint_make(*, url: str, event_types: list[str] | None = None, enabled: bool = True) -> Endpoint:
    return Endpoint.objects.create(
        url=url, description="test receiver", event_types=event_types or ALL_EVENT_TYPES, enabled=enabled
    )
