"""Writes to the catalogue. Every single-product change emits its webhook event in the same
transaction (the webhooks app's outbox sends it on commit)."""

from collections.abc import Sequence
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.utils import timezone

from products.events import product_event_data
from products.locks import catalogue_exclusive_lock_try
from products.models import SKU_UNIQUE_INDEX, DeleteAllJob, Product, ProductSearch, ProductSearchBacklog
from products.search import product_search_index
from products.selectors import product_sku_taken
from webhooks.events import PRODUCT_CREATED, PRODUCT_DELETED, PRODUCT_UPDATED, PRODUCTS_PER_EVENT
from webhooks.services import emit, emit_many

EDITABLE_FIELDS = ("sku", "name", "description", "price", "active")
IMPORT_RUNNING_MESSAGE = "An import is running. Delete all products once it has finished."
# TRUNCATE waits for every open read of the table; past this it gives up rather than queue
# every page of the app behind it.
TRUNCATE_LOCK_TIMEOUT = "5s"


def sku_taken_message(existing_sku: str) -> str:
    """The error for a SKU that duplicates `existing_sku`, as the catalogue spells it."""
    return f"A product with SKU “{existing_sku}” already exists (SKUs ignore letter case)."


class CatalogueBusy(Exception):
    """An import holds the catalogue lock."""


def _product_save(product: Product) -> None:
    """Save; a SKU taken by a concurrent request becomes the form's error, not a 500."""
    try:
        with transaction.atomic():
            product.save()
    except IntegrityError as error:
        diag = getattr(error.__cause__, "diag", None)
        if diag is not None and diag.constraint_name == SKU_UNIQUE_INDEX:
            existing = product_sku_taken(sku=product.sku) or product.sku
            raise ValidationError({"sku": sku_taken_message(existing)}, code="unique") from error
        raise


def product_create(
    *, sku: str, name: str, description: str = "", price: Decimal | None = None, active: bool = True
) -> Product:
    return product_save(product=Product(sku=sku, name=name, description=description, price=price, active=active))


def product_update(*, product: Product, data: dict) -> Product:
    for field in EDITABLE_FIELDS:
        if field in data:
            setattr(product, field, data[field])
    return product_save(product=product)


def product_save(*, product: Product) -> Product:
    """Create or update `product` as its fields stand (the admin's forms fill them in), index
    it for search and emit product.created or product.updated."""
    event_type = PRODUCT_CREATED if product._state.adding else PRODUCT_UPDATED
    product.sku = product.sku.strip()
    with transaction.atomic():
        _product_save(product)
        product_search_index(product_ids=[product.pk])
        emit(event_type, {"products": [product_event_data(product)]})
    return product


def product_delete(*, product: Product) -> None:
    products_delete(products=[product])


def products_delete(*, products: list[Product]) -> None:
    """Delete these products and emit product.deleted carrying them as they were."""
    if not products:
        return
    ids = [product.pk for product in products]
    with transaction.atomic():
        # The products' rows first, in id order: the delete below removes their search rows
        # (the cascade) before them, and locking the tables the other way round than "delete
        # all" could deadlock.
        list(Product.objects.select_for_update().filter(pk__in=ids).order_by("id").values_list("id"))
        Product.objects.filter(pk__in=ids).delete()  # leaves the instances as they were
        products_announce(PRODUCT_DELETED, products)


def products_active_set(*, products: list[Product], active: bool) -> list[Product]:
    """Activate or deactivate these products; those that change are indexed for search and
    announced in product.updated events. Returns the changed products."""
    ids = [product.pk for product in products]
    with transaction.atomic():
        changed = list(Product.objects.select_for_update().filter(pk__in=ids).exclude(active=active).order_by("id"))
        now = timezone.now()
        Product.objects.filter(pk__in=[product.pk for product in changed]).update(active=active, updated_at=now)
        for product in changed:
            product.active, product.updated_at = active, now
        product_search_index(product_ids=[product.pk for product in changed])
        products_announce(PRODUCT_UPDATED, changed)
    return changed


def products_announce(event_type: str, products: Sequence[Product]) -> None:
    """Emit `event_type` for `products`, PRODUCTS_PER_EVENT to an event, each event's data built
    as it is written, so only one event's worth of dicts is alive at once."""
    emit_many(
        event_type,
        ({"products": [product_event_data(product) for product in products[start : start + PRODUCTS_PER_EVENT]]}
         for start in range(0, len(products), PRODUCTS_PER_EVENT)),
    )


def products_delete_all_start(*, requested_by) -> DeleteAllJob:
    """Record a delete-all job and run it on commit; the one already pending if there is one.

    Raises CatalogueBusy at once while an import runs, rather than queue a job bound to fail.
    """
    from products.tasks import products_delete_all_task  # the task module imports this one

    with transaction.atomic():
        pending = DeleteAllJob.objects.select_for_update().filter(status=DeleteAllJob.Status.PENDING).first()
        if pending is not None:
            return pending
        # Taken and released with this short transaction: only a probe.
        if not catalogue_exclusive_lock_try():
            raise CatalogueBusy(IMPORT_RUNNING_MESSAGE)
        job = DeleteAllJob.objects.create(requested_by=requested_by)
        products_delete_all_task.delay_on_commit(job.pk)
    return job


def _catalogue_truncate() -> int:
    """Empty the products table, their search rows and search backlog in the current transaction;
    returns how many products it held."""
    if not catalogue_exclusive_lock_try():
        raise CatalogueBusy(IMPORT_RUNNING_MESSAGE)
    table = connection.ops.quote_name(Product._meta.db_table)
    search_tables = ", ".join(
        connection.ops.quote_name(model._meta.db_table) for model in (ProductSearch, ProductSearchBacklog)
    )
    with connection.cursor() as cursor:
        cursor.execute(f"SET LOCAL lock_timeout = '{TRUNCATE_LOCK_TIMEOUT}'")
        # Locked before counting, so no product is created between the count and the TRUNCATE;
        # products first, the order in which every writer of these tables locks them.
        cursor.execute(f"LOCK TABLE {table}, {search_tables} IN ACCESS EXCLUSIVE MODE")
        cursor.execute(f"SELECT count(*) FROM {table}")
        count = cursor.fetchone()[0]
        # TRUNCATE refuses while checks of this transaction's foreign keys (deferred, as Django
        # makes them) are pending, e.g. after a product was created in it: run them now.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute(f"TRUNCATE {table}, {search_tables}")
    return count


def products_delete_all(*, job_id: int) -> DeleteAllJob:
    """Run a delete-all job: all products go, or none and the job says why. Safe to run twice."""
    with transaction.atomic():
        job = DeleteAllJob.objects.select_for_update().get(pk=job_id)
        if job.is_finished:
            return job
        try:
            with transaction.atomic():
                job.deleted_count = _catalogue_truncate()
        except CatalogueBusy as error:
            job.error = str(error)
        except DatabaseError as error:
            job.error = f"The database refused to delete the products: {error}".strip()
        job.status = DeleteAllJob.Status.FAILED if job.error else DeleteAllJob.Status.SUCCEEDED
        job.finished_at = timezone.now()
        job.save()
    return job
