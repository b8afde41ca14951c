from django.conf import settings
from django.contrib.postgres.indexes import BrinIndex, GinIndex, OpClass
from django.contrib.postgres.search import SearchVectorField
from django.db import models
from django.db.models import F, Value
from django.db.models.functions import Collate, Concat, Lower, Now, Substr
from django.urls import reverse

from products.limits import NAME_MAX_LENGTH, PRICE_DECIMAL_PLACES, PRICE_MAX_DIGITS, SKU_MAX_LENGTH

# Full-text configuration of the description search: English stems words ("tables" finds
# "table") and leaves out stop words, which keeps the index small.
DESCRIPTION_SEARCH_CONFIG = "english"
# The unique index of sku_key(): the SKU order walks it.
SKU_UNIQUE_INDEX = "product_sku_ci_unique"
# New search index entries queue in this much of a pending list and are merged in bulk (see
# docs/performance.md); a catch-up merges what is left when it ends.
GIN_PENDING_LIST_KB = 64 * 1024


def product_search_key():
    """sku || ' ' || name of a ProductSearch row (both lowered): one trigram index serves both filters."""
    return Concat("sku", Value(" "), "name")


def product_search_sku_tail():
    """A ProductSearch row's SKU but its first character: a term lies there unless it begins the SKU."""
    return Substr("sku", 2)


def sku_key(sku=F("sku")):
    """A SKU's unique key: lowered, and compared byte by byte (collation "C") rather than by
    the database's collation, which is faster in the unique index (docs/performance.md).
    Equality is the same in every deterministic collation."""
    return Collate(Lower(sku), "C")


class Product(models.Model):
    sku = models.CharField(
        "SKU",
        max_length=SKU_MAX_LENGTH,
        help_text="Stock keeping unit as entered, trimmed. Unique regardless of letter case.",
    )
    name = models.CharField(max_length=NAME_MAX_LENGTH)
    description = models.TextField(blank=True)
    price = models.DecimalField(
        max_digits=PRICE_MAX_DIGITS, decimal_places=PRICE_DECIMAL_PLACES, null=True, blank=True
    )
    # The database defaults serve the import, which COPYs new products straight into the table.
    active = models.BooleanField(
        default=True, db_default=True, help_text="Managed by staff; imports never change it."
    )
    created_at = models.DateTimeField(auto_now_add=True, db_default=Now())
    updated_at = models.DateTimeField(auto_now=True, db_default=Now())

    class Meta:
        ordering = ["id"]
        constraints = [
            # SKUs are case-insensitive: a unique index on sku_key() makes `ABC-1` and `abc-1`
            # one product without a second column to keep in sync, and it is the conflict
            # target of the import's `INSERT ... ON CONFLICT ((lower(sku) COLLATE "C"))`.
            models.UniqueConstraint(
                sku_key(),
                name=SKU_UNIQUE_INDEX,
                violation_error_message="A product with this SKU already exists.",
            ),
        ]
        # No search index here: the filters search ProductSearch (docs/performance.md). The
        # inactive products' ids: the "inactive" filter counts and pages them without reading
        # the table; imports write active products only, which this index never holds.
        indexes = [models.Index(fields=["id"], condition=models.Q(active=False), name="product_inactive_id")]

    def __str__(self):
        return f"{self.sku} — {self.name}"

    def get_absolute_url(self):
        return reverse("products:detail", args=[self.pk])


class ProductSearch(models.Model):
    """What the list's SKU, name and description filters search, one row per product.

    Kept beside the product rather than in it, so imports do not maintain search indexes row by
    row: staff edits index at once, imports are caught up in bulk by a background task
    (products.search). A row is stale when its `updated_at` differs from the product's.
    """

    product = models.OneToOneField(Product, on_delete=models.CASCADE, primary_key=True, related_name="search")
    sku = models.CharField("SKU", max_length=SKU_MAX_LENGTH, help_text="The product's SKU, lowered.")
    name = models.CharField(max_length=NAME_MAX_LENGTH, help_text="The product's name, lowered.")
    description = SearchVectorField(help_text="The description's words (English full-text).")
    # Copied so that text and status filters together are answered from this table alone:
    # checking `active` on each matching product cost ~110 ms per 22k matches (random reads).
    # Imports never change it and staff edits index at once, so it is as fresh as the row.
    active = models.BooleanField(help_text="The product's active flag.")
    updated_at = models.DateTimeField(help_text="The product's updated_at when this row was built.")

    class Meta:
        ordering = ["product"]
        verbose_name = "product search row"
        # Why these and no others: docs/performance.md.
        indexes = [
            GinIndex(
                OpClass(product_search_key(), name="gin_trgm_ops"),
                name="productsearch_key_trgm",
                fastupdate=True,
                gin_pending_list_limit=GIN_PENDING_LIST_KB,
            ),
            GinIndex(
                fields=["description"],
                name="productsearch_description_fts",
                fastupdate=True,
                gin_pending_list_limit=GIN_PENDING_LIST_KB,
            ),
            # The id range of each few pages, of `product_id + 0`: a search bounded that way ANDs
            # it with the trigram index's candidates and rechecks only the rows in range (the
            # primary key, which the expression hides, would walk them all). A catch-up writes
            # search rows in id order, so the ranges are narrow where it wrote; rows written
            # elsewhere in the table (free space after updates) widen them, and such a bound then
            # reads more pages (docs/performance.md). A catch-up's end (or a vacuum) summarizes
            # its new pages.
            BrinIndex(F("product_id") + 0, name="productsearch_id_brin", pages_per_range=16),
            # A SKU term's candidates, exactly its matches: the rows whose SKU begins with it (a
            # range of this btree) and those holding it further on (the trigram index of the SKU
            # but its first character). The trigram index of sku || ' ' || name cannot tell
            # "sku-009..." from "sku-001009..." and rechecks every row holding "009".
            models.Index(fields=["sku"], name="productsearch_sku_prefix", opclasses=["varchar_pattern_ops"]),
            GinIndex(
                OpClass(product_search_sku_tail(), name="gin_trgm_ops"),
                name="productsearch_sku_tail_trgm",
                fastupdate=True,
                gin_pending_list_limit=GIN_PENDING_LIST_KB,
            ),
            # The inactive products' rows alone: a SKU or name term with the inactive filter
            # rechecks only their candidates. Imports write active products, which it never holds.
            GinIndex(
                OpClass(product_search_key(), name="gin_trgm_ops"),
                name="productsearch_inactive_trgm",
                condition=models.Q(active=False),
                fastupdate=True,
                gin_pending_list_limit=GIN_PENDING_LIST_KB,
            ),
        ]

    def __str__(self):
        return f"Search row of product {self.product_id}"


class ProductSearchCatchUp(models.Model):
    """At most one row: a catch-up of the search rows was asked for and has not finished yet.

    The list reads this one row to say that search is behind, instead of comparing every
    product with its search row on each page.
    """

    requested_at = models.DateTimeField(help_text="When the latest catch-up was asked for.")

    class Meta:
        verbose_name = "search catch-up request"

    def __str__(self):
        return f"Search catch-up requested {self.requested_at:%Y-%m-%d %H:%M:%S}"


class ProductSearchBacklog(models.Model):
    """Ids first_id to last_id may include products that have no search row yet.

    An import records the ids each batch took, in the batch's transaction; the catch-up forgets
    them in the transaction that indexes them. Until then the filters read those products from
    the products table itself, so an imported product is found as soon as its batch commits.
    """

    first_id = models.BigIntegerField()
    last_id = models.BigIntegerField()

    class Meta:
        ordering = ["first_id"]
        verbose_name = "search backlog range"

    def __str__(self):
        return f"Products {self.first_id}-{self.last_id} not indexed yet"


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
