"""The event types other apps emit and endpoints subscribe to."""

PRODUCT_CREATED = "product.created"
PRODUCT_UPDATED = "product.updated"
PRODUCT_DELETED = "product.deleted"
UPLOAD_COMPLETED = "upload.completed"
UPLOAD_FAILED = "upload.failed"

EVENT_TYPE_CHOICES = [
    (PRODUCT_CREATED, "Product created"),
    (PRODUCT_UPDATED, "Product updated"),
    (PRODUCT_DELETED, "Product deleted"),
    (UPLOAD_COMPLETED, "Upload completed"),
    (UPLOAD_FAILED, "Upload failed"),
]

# Product events carry their products in batches of at most this many (`data.products`).
PRODUCTS_PER_EVENT = 1000

# What the Test button sends (`data` is `{"test": true}`); endpoints need not subscribe to it.
WEBHOOK_TEST = "webhook.test"
