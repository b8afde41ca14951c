"""The webhook events an import emits, as the real outbox records them (Event and Delivery rows)."""

import csv
import io
import json
from datetime import datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from standardwebhooks import Webhook

from imports import pipeline
from products import bulk
from products.events import product_event_data
from products.models import Product
from webhooks import events
from webhooks.models import Delivery, Event
from webhooks.services import _payload_serialize
from webhooks.tests.conftest import receiver  # noqa: F401 - the loopback receiver fixture
from webhooks.tests.factories import ALL_EVENT_TYPES, endpoint_make

# Nothing listens here: deliveries are only queued (no worker runs in these tests).
UNUSED_URL = "http://127.0.0.1:9/hook"


def emitted(event_type: str | None = None) -> list[dict]:
    """The payloads of the emitted events, oldest first, optionally of one type only."""
    queryset = Event.objects.order_by("id")
    if event_type:
        queryset = queryset.filter(type=event_type)
    return [json.loads(payload) for payload in queryset.values_list("payload", flat=True)]


def product_skus(event_type: str) -> list[list[str]]:
    return [sorted(product["sku"] for product in event["data"]["products"]) for event in emitted(event_type)]


def csv_of(skus: list[str], name: str = "Name") -> str:
    return "sku,name\n" + "".join(f"{sku},{name} {sku}\n" for sku in skus)


@pytest.mark.django_db
def test_created_products_are_announced_in_batches_of_products_per_event(run_import):
    """A 2,500-row file gives three product.created events (1,000 + 1,000 + 500), one
    delivery each per subscribed endpoint, and no product.updated."""
    first = endpoint_make(url=UNUSED_URL, event_types=[events.PRODUCT_CREATED])
    second = endpoint_make(url=UNUSED_URL)
    skus = [f"SKU-{i:05d}" for i in range(2_500)]
    run_import(csv_of(skus))
    batches = product_skus(events.PRODUCT_CREATED)
    assert [len(batch) for batch in batches] == [events.PRODUCTS_PER_EVENT] * 2 + [500]
    assert sorted(sku for batch in batches for sku in batch) == skus
    assert emitted(events.PRODUCT_UPDATED) == []
    created_events = Event.objects.filter(type=events.PRODUCT_CREATED)
    assert Delivery.objects.filter(event__in=created_events, endpoint=first).count() == 3
    assert Delivery.objects.filter(event__in=created_events, endpoint=second).count() == 3


@pytest.mark.django_db
@pytest.mark.parametrize("fast_path", [True, False], ids=["split-merge", "on-conflict-fallback"])
def test_changed_products_are_announced_as_updated_with_their_stored_values(run_import, monkeypatch, fast_path):
    """Re-imported rows that change a product give product.updated with the product as stored
    (its `active` kept); unchanged products are not announced; new ones are product.created.
    Both write paths (the fast split merge and the ON CONFLICT fallback) tell them apart."""
    endpoint_make(url=UNUSED_URL, event_types=[events.PRODUCT_CREATED, events.PRODUCT_UPDATED])
    Product.objects.create(sku="same", name="Same")
    Product.objects.create(sku="old", name="Old", active=False)
    if not fast_path:
        monkeypatch.setattr(bulk, "_split_merge_sql", lambda fields, with_products: "INSERT INTO products_product (sku) VALUES (NULL)")
    run_import("sku,name,price\nnew,New,1.50\nOLD,Renamed,\nsame,Same,\n")
    assert product_skus(events.PRODUCT_CREATED) == [["new"]]
    assert product_skus(events.PRODUCT_UPDATED) == [["OLD"]]
    [updated] = emitted(events.PRODUCT_UPDATED)[0]["data"]["products"]
    stored = Product.objects.get(sku="OLD")
    assert updated == {
        "id": stored.pk, "sku": "OLD", "name": "Renamed", "description": "", "price": None, "active": False,
        "created_at": stored.created_at.isoformat(timespec="microseconds"),
        "updated_at": stored.updated_at.isoformat(timespec="microseconds"),
    }
    [created] = emitted(events.PRODUCT_CREATED)[0]["data"]["products"]
    assert (created["price"], created["active"]) == ("1.50", True)


@pytest.mark.django_db
def test_reimporting_an_unchanged_file_announces_no_products(run_import):
    """A second import of the same file updates nothing, so it emits no product events."""
    endpoint_make(url=UNUSED_URL)
    run_import(csv_of(["a", "b"]))
    Event.objects.all().delete()
    job = run_import(csv_of(["a", "b"]))
    assert (job.updated_count, job.unchanged_count) == (0, 2)
    assert [event["type"] for event in emitted()] == [events.UPLOAD_COMPLETED]


@pytest.mark.django_db
def test_upload_completed_carries_the_job_and_its_counts(run_import):
    """upload.completed names the job and file and carries its counts and duration."""
    endpoint = endpoint_make(url=UNUSED_URL, event_types=[events.UPLOAD_COMPLETED])
    Product.objects.create(sku="b", name="Old")
    job = run_import("sku,name,price\na,A,1\nB,B,\nc,C,oops\n", name="spring.csv")
    [event] = emitted()
    assert event["type"] == events.UPLOAD_COMPLETED
    assert event["data"] == {
        "job": job.pk, "file": "spring.csv", "status": "completed_with_errors", "rows": 3,
        "created": 1, "updated": 1, "unchanged": 0, "duplicates": 0, "skipped": 1, "errors": 1,
        "duration_seconds": job.duration.total_seconds(),
    }
    assert event["data"]["duration_seconds"] > 0
    assert Delivery.objects.get().endpoint == endpoint


@pytest.mark.django_db
def test_a_failed_import_emits_upload_failed(run_import):
    """A file the import cannot read ends in upload.failed with the job's message, and no upload.completed."""
    endpoint_make(url=UNUSED_URL, event_types=[events.UPLOAD_COMPLETED, events.UPLOAD_FAILED])
    job = run_import("name,description\nLamp,Bright\n", name="no-sku.csv")
    assert job.status == "failed"
    [event] = emitted()
    assert event["type"] == events.UPLOAD_FAILED
    assert event["data"] == {"job": job.pk, "file": "no-sku.csv", "error": job.error_message}
    assert "missing: sku" in job.error_message
    assert Delivery.objects.count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize(
    "endpoints",
    [
        pytest.param([], id="no-endpoint"),
        pytest.param([{"event_types": ALL_EVENT_TYPES, "enabled": False}], id="disabled-endpoint"),
        pytest.param([{"event_types": [events.PRODUCT_DELETED]}], id="other-event-type"),
    ],
)
def test_nobody_listening_means_no_events_or_deliveries(run_import, endpoints):
    """Without an enabled endpoint subscribed to an import's events, an import queues nothing."""
    for options in endpoints:
        endpoint_make(url=UNUSED_URL, **options)
    Product.objects.create(sku="b", name="Old")
    job = run_import(csv_of(["a", "b"]))
    assert (job.created_count, job.updated_count) == (1, 1)
    assert (Event.objects.count(), Delivery.objects.count()) == (0, 0)


@pytest.mark.django_db
def test_only_the_subscribed_product_event_type_is_emitted(run_import):
    """An endpoint subscribed to product.updated only gets no product.created (nor upload.*) events."""
    endpoint_make(url=UNUSED_URL, event_types=[events.PRODUCT_UPDATED])
    Product.objects.create(sku="b", name="Old")
    run_import(csv_of(["a", "b"]))
    assert [event["type"] for event in emitted()] == [events.PRODUCT_UPDATED]
    assert product_skus(events.PRODUCT_UPDATED) == [["b"]]


@pytest.mark.django_db(transaction=True)  # the worker only sees committed rows
def test_the_worker_delivers_an_imports_events_signed(run_import, celery_worker, receiver):
    """After an import, the real worker POSTs its product.created and upload.completed events to
    the receiver, signed so that the Standard Webhooks reference library accepts them."""
    endpoint = endpoint_make(url=receiver.url, event_types=[events.PRODUCT_CREATED, events.UPLOAD_COMPLETED])
    job = run_import(csv_of(["a", "b"]))
    requests = receiver.wait_for(2)
    payloads = [Webhook(endpoint.secret).verify(request.body, request.headers) for request in requests]
    by_type = {payload["type"]: payload["data"] for payload in payloads}
    assert sorted(product["sku"] for product in by_type[events.PRODUCT_CREATED]["products"]) == ["a", "b"]
    assert by_type[events.UPLOAD_COMPLETED]["job"] == job.pk


def csv_text(rows: list[tuple]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows([("sku", "name", "description", "price"), *rows])
    return out.getvalue()


# Values whose JSON or COPY text needs care: non-ASCII, quotes, backslashes, a tab, a newline,
# `%` (the rendered payloads are %-format templates), and prices as PostgreSQL writes them.
ODD_ROWS = [
    ("écran-1", "Écran 中文 “curly” \"straight\"", "back\\slash \\N and \\t", "19.9"),
    ("pct-2", "100% wool %s %d %%", "50%(off)s", "-0"),
    ("tab-3", "Tab\there", "line one\nline two", ""),
    ("Big-4", "Big", "", "1000"),
]


@pytest.mark.django_db
def test_appended_products_are_announced_with_the_payload_emit_would_write(run_import, monkeypatch):
    """Products an import appends are announced with exactly the bytes product_event_data() and
    _payload_serialize() give for them as stored (same keys, order, prices and timestamps),
    PRODUCTS_PER_EVENT to an event, although the import never reads them back."""
    endpoint_make(url=UNUSED_URL, event_types=[events.PRODUCT_CREATED])
    appended = []
    real_append = pipeline.products_bulk_append
    monkeypatch.setattr(pipeline, "products_bulk_append", lambda **kwargs: appended.append(kwargs) or real_append(**kwargs))
    rows = ODD_ROWS + [(f"sku-{i:04d}", f"Name {i}", "", f"{i}.50") for i in range(1_200)]
    job = run_import(csv_text(rows))
    assert job.created_count == len(rows)
    assert appended and all(kwargs["announce"] for kwargs in appended), "the append path announced them"
    payloads = list(Event.objects.filter(type=events.PRODUCT_CREATED).order_by("id").values_list("payload", flat=True))
    assert len(payloads) == 2
    announced = []
    for payload in payloads:
        sent = json.loads(payload)
        products = Product.objects.in_bulk([product["id"] for product in sent["data"]["products"]])
        with monkeypatch.context() as frozen:
            frozen.setattr(timezone, "now", lambda: datetime.fromisoformat(sent["timestamp"]))
            data = {"products": [product_event_data(products[product["id"]]) for product in sent["data"]["products"]]}
            assert payload == _payload_serialize(events.PRODUCT_CREATED, data)
        announced += [product["sku"] for product in sent["data"]["products"]]
    assert sorted(announced) == sorted(sku for sku, *_ in rows)
    odd = {product["sku"]: product for payload in payloads for product in json.loads(payload)["data"]["products"]}
    assert [odd[sku]["price"] for sku, *_ in ODD_ROWS] == ["19.90", "0.00", None, "1000.00"]


@pytest.mark.django_db
def test_a_later_batchs_repeat_leaves_the_created_event_as_the_product_was_created(run_import, small_batches):
    """An appended product's product.created event says what its row created, also once a later
    batch's row of its SKU has changed the product (announced in product.updated)."""
    endpoint_make(url=UNUSED_URL, event_types=[events.PRODUCT_CREATED, events.PRODUCT_UPDATED])
    job = run_import(csv_of(["a", "b", "A", "c"]))
    assert (job.created_count, job.duplicate_count) == (3, 1)
    created = [product for event in emitted(events.PRODUCT_CREATED) for product in event["data"]["products"]]
    updated = [product for event in emitted(events.PRODUCT_UPDATED) for product in event["data"]["products"]]
    assert {product["sku"]: product["name"] for product in created} == {"a": "Name a", "b": "Name b", "c": "Name c"}
    assert [(product["sku"], product["name"]) for product in updated] == [("A", "Name A")]
    assert Product.objects.get(sku="A").name == "Name A"


@pytest.mark.django_db
def test_repeats_held_back_are_announced_when_merged_after_their_products_creation(run_import, small_batches):
    """While someone listens, a fresh import's repeated rows still wait and are merged together:
    the repeats of two batches come in one product.updated event, written with that merge,
    after the product.created events of their products."""
    endpoint_make(url=UNUSED_URL, event_types=[events.PRODUCT_CREATED, events.PRODUCT_UPDATED])
    job = run_import(csv_of(["a", "b", "A", "c", "B", "d"]))
    assert (job.created_count, job.duplicate_count) == (4, 2)
    assert product_skus(events.PRODUCT_UPDATED) == [["A", "B"]]
    types = list(Event.objects.order_by("id").values_list("type", flat=True))
    assert types == [events.PRODUCT_CREATED] * 3 + [events.PRODUCT_UPDATED]


@pytest.mark.django_db
def test_an_endpoint_subscribed_during_the_import_is_told_of_the_products_appended_since(run_import, monkeypatch):
    """The parser cuts the new products into events only if someone listened when the import
    started; an endpoint subscribed later still gets each product appended after, with its id."""
    endpoint_make(url=UNUSED_URL, event_types=[events.PRODUCT_CREATED])
    looked_up = []
    monkeypatch.setattr(pipeline, "products_bulk_subscribers", lambda: looked_up.append(1) or (
        bulk.products_bulk_subscribers() if len(looked_up) > 1 else {}))
    appended = []
    real_append = pipeline.products_bulk_append
    monkeypatch.setattr(pipeline, "products_bulk_append", lambda **kwargs: appended.append(kwargs) or real_append(**kwargs))
    skus = [f"sku-{i:04d}" for i in range(1_500)]
    run_import(csv_of(skus))
    assert appended and all(kwargs["announce"] and kwargs["event_rows"] is None for kwargs in appended)
    announced = [product for event in emitted(events.PRODUCT_CREATED) for product in event["data"]["products"]]
    assert {product["id"]: product["sku"] for product in announced} == dict(Product.objects.values_list("id", "sku"))
    assert len(announced) == len(skus)


@pytest.mark.django_db
def test_an_append_whose_ids_another_session_shared_is_merged_and_announced_right(run_import, monkeypatch):
    """When the id sequence gives values to another session during an append, so that the
    appended rows' ids are not the range after the one taken before it, the batch is merged
    instead and each product is announced once, with its own id."""
    endpoint_make(url=UNUSED_URL, event_types=[events.PRODUCT_CREATED])
    # Takes two values and answers the first, as if another session took the second meanwhile.
    shared = f"SELECT min(id) FROM (SELECT nextval({bulk.SEQUENCE_SQL}) AS id FROM generate_series(1, 2)) ids"
    monkeypatch.setattr(bulk, "ID_BEFORE_SQL", shared)
    appended = []

    def recorded_append(**arguments):
        appended.append(bulk.products_bulk_append(**arguments))
        return appended[-1]

    monkeypatch.setattr(pipeline, "products_bulk_append", recorded_append)
    skus = [f"sku-{i:04d}" for i in range(1_500)]
    job = run_import(csv_of(skus))
    assert job.created_count == len(skus)
    assert appended == [False]
    announced = [product for event in emitted(events.PRODUCT_CREATED) for product in event["data"]["products"]]
    assert sorted(product["sku"] for product in announced) == skus
    assert {product["id"]: product["sku"] for product in announced} == dict(Product.objects.values_list("id", "sku"))


@pytest.mark.django_db
def test_each_batch_looks_up_the_subscribers_once(run_import, small_batches):
    """Appended or merged, announcing created and updated products, a batch reads the
    subscribed endpoints in one query; the import reads them once more at its start (whether
    the parser renders events) and once for upload.completed."""
    endpoint_make(url=UNUSED_URL)
    Product.objects.create(sku="old", name="Old")
    rows = ["a", "b", "OLD", "A", "c", "d"]  # batches: append; merge (created + updated); append
    with CaptureQueriesContext(connection) as queries:
        job = run_import(csv_of(rows, name="New"))
    assert (job.created_count, job.updated_count, job.duplicate_count) == (4, 1, 1)
    assert [sorted(skus) for skus in product_skus(events.PRODUCT_UPDATED)] == [["A", "OLD"]]
    lookups = [query for query in queries if 'FROM "webhooks_endpoint"' in query["sql"]]
    assert len(lookups) == 3 + 2


@pytest.mark.django_db(transaction=True)  # batches really commit, or roll back
def test_a_batch_rolled_back_leaves_no_events(run_import, small_batches, monkeypatch):
    """An import's events commit with its batch: when the second batch's transaction fails after
    its products were written and announced, only the first batch's products exist and only they
    were announced."""
    endpoint_make(url=UNUSED_URL, event_types=[events.PRODUCT_CREATED])
    real_count, batches = pipeline._count, []

    def count_then_fail(job, batch, **kwargs):
        batches.append(batch)
        real_count(job, batch, **kwargs)
        if len(batches) == 2:
            raise RuntimeError("the database went away")

    monkeypatch.setattr(pipeline, "_count", count_then_fail)
    job = run_import(csv_of(["a", "b", "c", "d", "e"]))
    assert job.status == "failed"
    assert sorted(Product.objects.values_list("sku", flat=True)) == ["a", "b"]
    assert product_skus(events.PRODUCT_CREATED) == [["a", "b"]]
    assert Delivery.objects.count() == 1


@pytest.mark.django_db(transaction=True)  # the worker only sees committed rows
def test_every_change_reaches_the_receiver_once_and_in_order(run_import, small_batches, celery_worker, receiver):
    """With repeats across batches and then a re-import, the real worker delivers each created
    product in one product.created and each change in one product.updated, every delivery once,
    and the last payload the receiver got for each product is the product as stored."""
    endpoint_make(url=receiver.url, event_types=[events.PRODUCT_CREATED, events.PRODUCT_UPDATED])
    first = [("a", "A"), ("b", "B"), ("c", "C"), ("A", "A again"), ("d", "D"), ("b", "B"), ("e", "E"), ("C", "C again")]
    run_import("sku,name\n" + "".join(f"{sku},{name}\n" for sku, name in first))
    run_import("sku,name\nA,A again\nb,B changed\nC,C again\nd,D\ne,E changed\n")
    requests = receiver.wait_for(Delivery.objects.count(), timeout=30)
    payloads = [json.loads(request.body) for request in requests]
    assert len({request.headers["webhook-id"] for request in requests}) == len(requests) == Delivery.objects.count()
    sent = [(payload["type"], product) for payload in payloads for product in payload["data"]["products"]]
    created = sorted(product["sku"].lower() for kind, product in sent if kind == events.PRODUCT_CREATED)
    assert created == ["a", "b", "c", "d", "e"]
    updated = sorted((product["sku"].lower(), product["name"]) for kind, product in sent if kind == events.PRODUCT_UPDATED)
    assert updated == [("a", "A again"), ("b", "B changed"), ("c", "C again"), ("e", "E changed")]
    last = {product["id"]: product for _kind, product in sent}
    assert last == {product.pk: json.loads(json.dumps(product_event_data(product))) for product in Product.objects.all()}
