"""Standard Webhooks signatures (https://www.standardwebhooks.com/)."""

import base64
import hashlib
import hmac

from webhooks.models import SECRET_PREFIX


def signature_headers(*, secret: str, message_id: str, timestamp: int, body: str) -> dict[str, str]:
    """The webhook-id/-timestamp/-signature headers: `v1,` + base64 HMAC-SHA256 of `id.timestamp.body`
    keyed with the base64-decoded part of the `whsec_` secret."""
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    signed = f"{message_id}.{timestamp}.{body}".encode()
    signature = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": f"v1,{signature}",
    }
