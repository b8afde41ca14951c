"""The products API: cursor-paged filtered list, create/read/update/delete with events, delete all, CSV export."""

import csv
import io

import pytest

from imports.services import import_job_create, import_job_run
from products.models import DeleteAllJob, Product
from products.tests.factories import product_make

pytestmark = pytest.mark.django_db


def _pages(api_client, url):
    """Follow `next` links from `url`; every page's SKUs."""
    pages = []
    while url:
        body = api_client.get(url).json()
        pages.append([product["sku"] for product in body["results"]])
        url = body["next"]
    return pages


def test_list_pages_by_cursor_in_id_order(api_client):
    """The list walks every product once, 25 a page, through opaque next links, and back with previous."""
    for number in range(60):
        product_make(f"SKU-{number:03}")
    pages = _pages(api_client, "/api/products/?per_page=25")
    assert [len(page) for page in pages] == [25, 25, 10]
    assert sum(pages, []) == [f"SKU-{number:03}" for number in range(60)]
    first = api_client.get("/api/products/?per_page=25").json()
    assert first["previous"] is None
    second = api_client.get(first["next"]).json()
    back = api_client.get(second["previous"]).json()
    assert [p["sku"] for p in back["results"]] == pages[0]
    assert back["previous"] is None


def test_list_filters_mean_what_the_staff_list_filters_mean(api_client):
    """SKU and name contain (any case), description whole words, active yes/no."""
    product_make("OAK-1", name="Oak table", description="A solid oak table")
    product_make("oak-2", name="Oak chair", description="Chair", active=False)
    product_make("PINE-1", name="Pine shelf", description="Tables and shelves")

    def skus(query):
        return sorted(p["sku"] for p in api_client.get(f"/api/products/?{query}").json()["results"])

    assert skus("sku=OAK") == ["OAK-1", "oak-2"]
    assert skus("name=chair") == ["oak-2"]
    assert skus("description=table") == ["OAK-1", "PINE-1"]
    assert skus("active=no") == ["oak-2"]
    assert skus("sku=oak&active=yes") == ["OAK-1"]


def test_filtered_list_past_the_count_cap_pages_correctly(api_client, settings, monkeypatch):
    """A filter with more matches than the cap still pages in id order without skipping any."""
    from products import selectors

    monkeypatch.setattr(selectors, "FILTERED_COUNT_CAP", 5)
    for number in range(30):
        product_make(f"{'M' if number % 3 else 'X'}-{number:02}")
    pages = _pages(api_client, "/api/products/?sku=m-&per_page=25")
    assert sum(pages, []) == [f"M-{n:02}" for n in range(30) if n % 3]


@pytest.mark.parametrize("walk_limit", [20_000, 0], ids=["primary key walk", "fetch and sort in range"])
def test_a_sku_prefix_past_the_cap_pages_by_cursor_as_the_plain_filter(api_client, monkeypatch, walk_limit):
    """A SKU term that begins the newest SKUs (created out of SKU order, an old product holding it
    mid-SKU) pages by cursor exactly as the plain filter finds it."""
    from products import selectors

    monkeypatch.setattr(selectors, "FILTERED_COUNT_CAP", 5)
    monkeypatch.setattr(selectors, "PRIMARY_KEY_WALK_LIMIT", walk_limit)
    product_make("OLD-KIT-00")
    for number in range(12):
        product_make(f"P-{number:02}")
    for number in (3, 1, 2, 9, 5, 4, 8, 6, 7, 10):
        product_make(f"KIT-{number:02}")
    expected = list(Product.objects.filter(sku__icontains="kit").order_by("id").values_list("sku", flat=True))
    assert sum(_pages(api_client, "/api/products/?sku=Kit&per_page=3"), []) == expected


def test_bad_cursor_is_a_400_on_cursor(api_client):
    """A cursor the API did not make is refused with a field error, not a 500."""
    response = api_client.get("/api/products/?cursor=not-a-cursor!!")
    assert response.status_code == 400
    assert "cursor" in response.json()


def test_create_returns_201_and_emits_product_created(api_client, emitted):
    """A created product comes back with its id and is announced like a staff-created one."""
    response = api_client.post(
        "/api/products/", {"sku": " NEW-1 ", "name": "Lamp", "price": "12.50"}, format="json"
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["sku"] == "NEW-1" and body["price"] == "12.50" and body["active"] is True
    assert Product.objects.get(pk=body["id"]).name == "Lamp"
    assert [event["type"] for event in emitted()] == ["product.created"]


def test_create_with_a_sku_taken_in_another_case_is_refused_on_sku(api_client):
    """SKUs ignore letter case: the 400 is on `sku`, with the form's own message."""
    from products.forms import ProductForm

    product_make("ABC-1")
    response = api_client.post("/api/products/", {"sku": "abc-1", "name": "Other"}, format="json")
    assert response.status_code == 400
    form = ProductForm({"sku": "abc-1", "name": "Other"})
    assert not form.is_valid()
    assert response.json() == {"sku": form.errors["sku"]}
    assert Product.objects.count() == 1


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"name": "No SKU"}, "sku"),
        ({"sku": "A-1"}, "name"),
        ({"sku": "A-1", "name": "Lamp", "price": "-1"}, "price"),
        ({"sku": "A-1", "name": "Lamp", "price": "1.234"}, "price"),
        ({"sku": "x" * 65, "name": "Lamp"}, "sku"),
        ({"sku": "  ", "name": "Lamp"}, "sku"),
    ],
)
def test_invalid_product_is_refused_with_the_forms_error(api_client, data, field):
    """Missing or invalid fields are 400 with the staff form's own message on the field."""
    from products.forms import ProductForm

    response = api_client.post("/api/products/", data, format="json")
    assert response.status_code == 400
    assert response.json()[field] == ProductForm({"active": True, **data}).errors[field]


def test_read_patch_put_and_delete_one_product(api_client, emitted):
    """GET, PATCH, PUT and DELETE (204) on one product, each change announced as the UI does."""
    product = product_make("P-1", name="Lamp")
    url = f"/api/products/{product.pk}/"
    assert api_client.get(url).json()["name"] == "Lamp"
    response = api_client.patch(url, {"active": False}, format="json")
    assert response.status_code == 200 and response.json()["active"] is False
    assert response.json()["name"] == "Lamp"
    response = api_client.put(url, {"sku": "P-1", "name": "Desk lamp", "price": None}, format="json")
    assert response.status_code == 200 and response.json()["name"] == "Desk lamp"
    assert api_client.delete(url).status_code == 204
    assert not Product.objects.filter(pk=product.pk).exists()
    assert [event["type"] for event in emitted()] == ["product.updated", "product.updated", "product.deleted"]
    assert api_client.get(url).status_code == 404


def test_patch_to_a_sku_another_product_has_is_refused(api_client):
    """Renaming a SKU onto another product's SKU (any case) is a 400 on sku; keeping its own is fine."""
    product_make("ONE")
    other = product_make("TWO")
    assert api_client.patch(f"/api/products/{other.pk}/", {"sku": "one"}, format="json").status_code == 400
    assert api_client.patch(f"/api/products/{other.pk}/", {"sku": "two"}, format="json").status_code == 200


def test_delete_all_needs_confirmation_and_reports_its_job(api_client, transactional_db, celery_worker):
    """Without confirm it is a 400; with it a 202 and a job that ends having deleted everything."""
    product_make("A")
    product_make("B")
    assert api_client.post("/api/products/delete-all/", {}, format="json").status_code == 400
    assert api_client.post("/api/products/delete-all/", {"confirm": False}, format="json").status_code == 400
    response = api_client.post("/api/products/delete-all/", {"confirm": True}, format="json")
    assert response.status_code == 202
    job_url = f"/api/products/delete-all/{response.json()['id']}/"
    import time

    deadline = time.monotonic() + 60
    while (body := api_client.get(job_url).json())["status"] == "pending" and time.monotonic() < deadline:
        time.sleep(0.1)
    assert body["status"] == "succeeded" and body["deleted_count"] == 2
    assert DeleteAllJob.objects.get().status == "succeeded"


def test_delete_all_while_an_import_runs_is_a_409(api_client, import_running):
    """The catalogue lock held by an import refuses delete all at once, with the reason."""
    response = api_client.post("/api/products/delete-all/", {"confirm": True}, format="json")
    assert response.status_code == 409
    assert "import is running" in response.json()["detail"]


def _export(api_client, query="") -> str:
    response = api_client.get(f"/api/products/export.csv{query}")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    return b"".join(response.streaming_content).decode()


def test_export_streams_the_filtered_products_as_csv(api_client):
    """The header is sku,name,description,price,active; rows follow the filters, in id order."""
    product_make("OAK-1", name="Oak, table", description='Says "hi"\non two lines', price="10.50")
    product_make("OAK-2", name="Oak chair", price=None, active=False)
    product_make("PINE-1", name="Pine")
    rows = list(csv.reader(io.StringIO(_export(api_client, "?sku=oak"))))
    assert rows == [
        ["sku", "name", "description", "price", "active"],
        ["OAK-1", "Oak, table", 'Says "hi"\non two lines', "10.50", "t"],
        ["OAK-2", "Oak chair", "", "", "f"],
    ]
    assert _export(api_client, "?active=no").splitlines()[1].startswith("OAK-2,")


def test_exported_file_reimports_with_nothing_created_or_changed(api_client):
    """Export, then import that file: every row is read, none is new, none changes, no warning."""
    product_make("A-1", name="Lamp, brass", description='Tall "classic"\nlamp', price="99.90")
    product_make("b-2", name="Shelf", price=None, active=False)
    product_make("C-3", name="Ünïcode ☃", description="")
    before = list(Product.objects.order_by("id").values())
    exported = _export(api_client).encode()
    from django.core.files.base import ContentFile

    job = import_job_create(file=ContentFile(exported, name="export.csv"), name="export.csv", user=None, enqueue=False)
    job = import_job_run(job_id=job.pk)
    assert job.status == "completed", job.error_message
    assert (job.rows_processed, job.created_count, job.skipped_count, job.warnings) == (3, 0, 0, [])
    assert list(Product.objects.order_by("id").values()) == before
