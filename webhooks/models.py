import base64
import secrets
import uuid

import lz4.frame
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.urls import reverse
from django.utils import timezone

from products.events import product_rows_json
from webhooks.events import EVENT_TYPE_CHOICES

SECRET_PREFIX = "whsec_"
# Marks a payload stored as the products of a product event (payload_compress_products()); an
# LZ4 frame never starts with it, and the head of a JSON body never holds it.
PRODUCTS_FORM = b"\0"


def secret_generate() -> str:
    """A Standard Webhooks secret: `whsec_` + base64 of 32 random bytes (the signing key)."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def message_id_generate() -> str:
    return f"msg_{uuid.uuid4().hex}"


def payload_compress(body: bytes) -> bytes:
    """A request body as Event stores it: an LZ4 frame (`lz4 -d` reads it)."""
    return lz4.frame.compress(body)


def payload_compress_products(head: bytes, products: bytes) -> bytes:
    """The body `head` + {"products": [...]} + "}" as Event stores it when `products` are an item of
    products.events.product_rows_kept(), compressed already: those, not their JSON, which is
    rendered when read."""
    return b"".join((PRODUCTS_FORM, head, PRODUCTS_FORM, products))


def payload_decompress(stored: bytes) -> str:
    """The request body that payload_compress() or payload_compress_products() stored."""
    if stored.startswith(PRODUCTS_FORM):
        _, head, products = stored.split(PRODUCTS_FORM, 2)
        return b"".join((head, product_rows_json(products), b"}")).decode()
    return lz4.frame.decompress(stored).decode()


class CompressedTextField(models.TextField):
    """Text kept as an LZ4 frame of its UTF-8 bytes in a bytea column (payload_compress()), or
    as what renders it, compressed (payload_compress_products()).

    Event payloads are large, written once and read once; compressed by the process that writes
    them, PostgreSQL only stores them (the column's storage is EXTERNAL: it does not try to
    compress them again). The field is not meant to be filtered on."""

    def db_type(self, connection) -> str:
        return "bytea"

    def get_db_prep_value(self, value, connection, prepared=False):
        value = super().get_db_prep_value(value, connection, prepared)
        return None if value is None else payload_compress(value.encode())

    def from_db_value(self, value, expression, connection):
        return None if value is None else payload_decompress(value)


class Endpoint(models.Model):
    url = models.URLField("URL", max_length=2000, help_text="Where deliveries are POSTed (http or https).")
    description = models.CharField(max_length=255, blank=True)
    event_types = ArrayField(
        models.CharField(max_length=64, choices=EVENT_TYPE_CHOICES),
        verbose_name="events",
        help_text="The events this endpoint receives.",
    )
    secret = models.CharField(
        max_length=100, default=secret_generate, editable=False,
        help_text="Standard Webhooks signing secret; shown to staff once, when created or rotated.",
    )
    enabled = models.BooleanField(default=True)
    disabled_reason = models.CharField(
        max_length=255, blank=True, help_text="Why the endpoint was disabled automatically, if it was."
    )
    # After a failed attempt the endpoint's other deliveries wait until its retry, instead of
    # each spending a timeout on a receiver that is down and holding up other endpoints.
    paused_until = models.DateTimeField(
        null=True, blank=True, help_text="Deliveries wait until then because the last attempt failed."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]

    def __str__(self):
        return self.url

    def get_absolute_url(self):
        return reverse("webhooks:endpoint_detail", args=[self.pk])

    @property
    def is_paused(self) -> bool:
        return self.paused_until is not None and self.paused_until > timezone.now()


class Event(models.Model):
    """One emitted event: its payload is stored once, however many endpoints receive it."""

    type = models.CharField(max_length=64)
    # The exact request body, serialized once by emit(), or rendered when read from the values
    # it was emitted with: every delivery and retry sends (and signs) these bytes.
    payload = CompressedTextField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self):
        return f"{self.type} #{self.pk}"


class Delivery(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    endpoint = models.ForeignKey(Endpoint, on_delete=models.CASCADE, related_name="deliveries")
    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="deliveries")
    message_id = models.CharField(
        "webhook-id", max_length=40, unique=True, default=message_id_generate,
        help_text="Sent as the webhook-id header; the same on every retry so receivers can deduplicate.",
    )
    status = models.CharField(max_length=16, choices=Status, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0, help_text="Attempts since queued or redelivered.")
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    # When a send task was last enqueued: the sweep re-enqueues only if the broker seems to have lost it.
    queued_at = models.DateTimeField(null=True, blank=True)
    # A worker sending this delivery holds it until then, so no other worker sends it at the same time.
    locked_until = models.DateTimeField(null=True, blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_response_ms = models.PositiveIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-id"]
        verbose_name_plural = "deliveries"
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                name="delivery_due_idx",
                condition=models.Q(status="pending"),
            ),
            models.Index(fields=["endpoint", "-last_attempt_at"], name="delivery_endpoint_last_idx"),
            # An endpoint's pending deliveries in queue order: product events are sent in it.
            models.Index(fields=["endpoint", "id"], name="delivery_endpoint_pending_idx", condition=models.Q(status="pending")),
        ]

    def __str__(self):
        return f"{self.message_id} → {self.endpoint} ({self.status})"

    def get_absolute_url(self):
        return reverse("webhooks:delivery_detail", args=[self.pk])


class DeliveryAttempt(models.Model):
    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="attempt_log")
    attempted_at = models.DateTimeField()
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    response_ms = models.PositiveIntegerField("response time (ms)")
    response_excerpt = models.TextField(blank=True, help_text="At most the first 1 KB of the response body.")
    error = models.CharField(max_length=255, blank=True, help_text="Timeout, refused connection, DNS failure...")

    class Meta:
        ordering = ["-attempted_at", "-id"]

    def __str__(self):
        return f"{self.status_code or self.error} at {self.attempted_at:%Y-%m-%d %H:%M:%S}"

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300
