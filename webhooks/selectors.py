"""PLACEHOLDER until the webhooks issue (#4) lands; the signature is the contract."""


def event_has_subscribers(event_type: str) -> bool:
    """Whether any enabled endpoint subscribes to `event_type`: lets callers skip building
    costly payloads (an import's product batches) when nobody listens."""
    return False
