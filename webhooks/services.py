"""The interface other apps call. PLACEHOLDER until the webhooks issue (#4) lands: emit() stores
nothing yet. Its signature is the contract: keep it when implementing the outbox."""


def emit(event_type: str, data: dict) -> int:
    """Queue one delivery of `data` per enabled endpoint subscribed to `event_type`.

    Runs in the caller's transaction (an outbox): nothing is sent for a rolled-back change.
    Returns the number of deliveries queued.
    """
    return 0
