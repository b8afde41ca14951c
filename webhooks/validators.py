import socket

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator

from webhooks.urlguard import UnsafeURLError, target_address, url_target

_url_format_validate = URLValidator(schemes=["http", "https"])


def endpoint_url_validate(url: str) -> None:
    """Raise ValidationError unless `url` can receive webhooks: a well-formed http(s) URL whose host
    (with the SSRF guard on) resolves only to public addresses. The one check behind the endpoint
    form, the admin and the API."""
    _url_format_validate(url)
    try:
        target = url_target(url)
        if not settings.WEBHOOKS_ALLOW_PRIVATE_URLS:
            target_address(target)
    except UnsafeURLError as exc:
        raise ValidationError(str(exc), code="unsafe_url") from exc
    except socket.gaierror as exc:
        raise ValidationError("The host name does not resolve.", code="unresolvable") from exc
