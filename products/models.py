from django.db import models
from django.db.models.functions import Lower


class Product(models.Model):
    sku = models.CharField(
        "SKU",
        max_length=64,
        help_text="Stock keeping unit as entered, trimmed. Unique regardless of letter case.",
    )
    name = models.CharField(max_length=255)
    description = models.TextField(blank=True)
    price = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    active = models.BooleanField(
        default=True, help_text="Managed by staff; imports never change it."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

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

    def __str__(self):
        return f"{self.sku} — {self.name}"
