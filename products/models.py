from django.conf import settings
from django.contrib.postgres.indexes import GinIndex, OpClass
from django.contrib.postgres.search import SearchVector, SearchVectorField
from django.db import models
from django.db.models import Value
from django.db.models.functions import Concat, Lower, Now
from django.urls import reverse

# Full-text configuration of the description search: English stems words ("tables" finds
# "table") and leaves out stop words, which keeps the index small.
DESCRIPTION_SEARCH_CONFIG = "english"
# New index entries queue in this much of a pending list and are merged in bulk (see migration 0002).
GIN_PENDING_LIST_KB = 64 * 1024


def product_search_key():
    """lower(sku || ' ' || name): one trigram index serves both the SKU and the name filter."""
    return Lower(Concat("sku", Value(" "), "name"))


class Product(models.Model):
    sku = models.CharField(
        "SKU",
        max_length=64,
        help_text="Stock keeping unit as entered, trimmed. Unique regardless of letter case.",
    )
    name = models.CharField(max_length=255)
    description = models.TextField(blank=True)
    price = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    # The database defaults serve the import, which COPYs new products straight into the table.
    active = models.BooleanField(
        default=True, db_default=True, help_text="Managed by staff; imports never change it."
    )
    created_at = models.DateTimeField(auto_now_add=True, db_default=Now())
    updated_at = models.DateTimeField(auto_now=True, db_default=Now())
    # Stored, so a search reads the words instead of re-parsing every candidate description.
    description_search = models.GeneratedField(
        expression=SearchVector("description", config=DESCRIPTION_SEARCH_CONFIG),
        output_field=SearchVectorField(),
        db_persist=True,
        help_text="The description's words, for the list's description filter.",
    )

    class Meta:
        ordering = ["id"]
        constraints = [
            # SKUs are case-insensitive: a unique index on lower(sku) makes `ABC-1` and `abc-1`
            # one product without a second column to keep in sync, and it is the conflict
            # target of the import's `INSERT ... ON CONFLICT ((lower(sku)))`.
            models.UniqueConstraint(
                Lower("sku"),
                name="product_sku_ci_unique",
                violation_error_message="A product with this SKU already exists.",
            ),
        ]
        # Why these two and no others: see migration 0002.
        indexes = [
            GinIndex(
                OpClass(product_search_key(), name="gin_trgm_ops"),
                name="product_search_key_trgm",
                fastupdate=True,
                gin_pending_list_limit=GIN_PENDING_LIST_KB,
            ),
            GinIndex(
                fields=["description_search"],
                name="product_description_fts",
                fastupdate=True,
                gin_pending_list_limit=GIN_PENDING_LIST_KB,
            ),
        ]

    def __str__(self):
        return f"{self.sku} — {self.name}"

    def get_absolute_url(self):
        return reverse("products:detail", args=[self.pk])


class DeleteAllJob(models.Model):
    """One "delete all products" request, run by a Celery task."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    status = models.CharField(max_length=16, choices=Status, default=Status.PENDING)
    deleted_count = models.PositiveBigIntegerField(
        null=True, blank=True, help_text="Products deleted; set when the job succeeded."
    )
    error = models.TextField(blank=True, help_text="Why the job failed, for staff.")
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "delete-all job"

    def __str__(self):
        return f"Delete all products, {self.created_at:%Y-%m-%d %H:%M} ({self.get_status_display()})"

    def get_absolute_url(self):
        return reverse("products:delete_all_job", args=[self.pk])

    @property
    def is_finished(self) -> bool:
        return self.status != self.Status.PENDING
