"""The app as production runs it: gunicorn with DEBUG off serving HTTPS, a real Celery worker
process, static files collected into WhiteNoise's manifest, the webhook SSRF guard on, and the
main journeys in Chromium. Whatever works only in development fails here."""

import os
import re
import secrets
import socket
import ssl
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
import trustme
from django.conf import settings
from playwright.sync_api import expect
from standardwebhooks.webhooks import Webhook

from conftest import sign_in
from config.tests.processes import (
    broker_wait_until_idle,
    database_url,
    free_port,
    process_stop,
    redis_url,
    wait_for,
)
from imports.models import ImportJob
from products.models import Product
from webhooks.models import Delivery
from webhooks.tests.receiver import Receiver

# The lane's web and worker share this Redis database; the session's in-process worker uses another.
REDIS_DATABASE = 14
CSV_ROWS = 250


def production_environment(**variables: str) -> dict:
    """A clean environment with production's variables: nothing leaks in from the developer's."""
    return {"PATH": os.environ["PATH"], "LANG": "C.UTF-8", "DEBUG": "false",
            "SECRET_KEY": secrets.token_urlsafe(50), **variables}  # fmt: skip


def manage(*arguments: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "manage.py", *arguments], cwd=settings.BASE_DIR, env=env,
                          capture_output=True, text=True, timeout=300)  # fmt: skip


class App:
    """The processes of the Procfile, started on the test database."""

    def __init__(self, folder, env: dict, url: str, ca_path):
        self.folder, self.env, self.url, self.ca_path = folder, env, url, ca_path
        self.processes: dict[str, subprocess.Popen] = {}

    def start(self, name: str, *command: str) -> None:
        with open(self.folder / f"{name}.log", "wb") as log:
            self.processes[name] = subprocess.Popen(
                [sys.executable, "-m", *command], cwd=settings.BASE_DIR, env=self.env,
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip

    def logs(self) -> str:
        return "\n".join(f"--- {name}\n{(self.folder / f'{name}.log').read_text()[-3000:]}" for name in self.processes)

    def get(self, path: str) -> requests.Response:
        # Verified against the test CA: the certificate gunicorn serves is checked, not ignored.
        return requests.get(self.url + path, verify=self.ca_path, timeout=30, allow_redirects=False)

    def ready(self) -> bool:
        for name, process in self.processes.items():
            if process.poll() is not None:
                pytest.fail(f"{name} exited with {process.returncode}:\n{self.logs()}")
        try:
            return self.get("/readyz").status_code == 200
        except (requests.ConnectionError, requests.Timeout):  # not listening, or still starting
            return False


@dataclass
class TLS:
    """A test CA and a certificate for localhost from it, written where gunicorn and requests read them."""

    server_cert: trustme.LeafCert
    ca_path: Path
    cert_path: Path
    key_path: Path


@pytest.fixture(scope="module")
def tls(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tls")
    ca = trustme.CA()
    server_cert = ca.issue_cert("localhost", "127.0.0.1")
    files = TLS(server_cert, folder / "ca.pem", folder / "cert.pem", folder / "key.pem")
    ca.cert_pem.write_to_path(files.ca_path)
    server_cert.private_key_pem.write_to_path(files.key_path)
    for blob in server_cert.cert_chain_pems:
        blob.write_to_path(files.cert_path, append=True)
    return files


@pytest.fixture(scope="module")
def production_app(django_db_setup, django_db_blocker, tls, tmp_path_factory):
    """Collect static files as a deploy does, then run gunicorn over HTTPS and a worker, as the Procfile does."""
    folder = tmp_path_factory.mktemp("production")
    port = free_port()
    with django_db_blocker.unblock():
        database = database_url()
    broker = redis_url(REDIS_DATABASE)
    env = production_environment(
        ALLOWED_HOSTS="localhost", CSRF_TRUSTED_ORIGINS=f"https://localhost:{port}",
        DATABASE_URL=database, REDIS_URL=broker, CELERY_BROKER_URL=broker,
        MEDIA_ROOT=str(folder / "media"), STATIC_ROOT=str(folder / "static"),
        # The agreed test-only allow-list: the guard stays on and accepts localhost's loopback address.
        WEBHOOKS_ALLOW_PRIVATE_URLS="false", WEBHOOKS_SSRF_ALLOWED_HOSTS="localhost",
        WEBHOOKS_CA_BUNDLE=str(tls.ca_path),
    )  # fmt: skip
    collected = manage("collectstatic", "--noinput", env=env)
    assert collected.returncode == 0, collected.stderr
    app = App(folder, env, f"https://localhost:{port}", tls.ca_path)
    try:
        app.start("web", "gunicorn", "config.wsgi", "--bind", f"127.0.0.1:{port}", "--workers", "2",
                  "--access-logfile", "-", "--certfile", str(tls.cert_path), "--keyfile", str(tls.key_path))  # fmt: skip
        app.start("worker", "celery", "-A", "config", "worker", "--loglevel", "INFO", "--concurrency", "1")
        wait_for(app.ready, 180, "/readyz to answer 200 (database, Redis and the worker)")
        yield app
    finally:
        for process in app.processes.values():
            process_stop(process)


@pytest.fixture
def production_db(production_app, transactional_db):
    """Rows the test writes are committed, so the app's processes see them; after the test the
    worker finishes what it was given before the database is emptied."""
    yield
    broker_wait_until_idle(production_app.env["CELERY_BROKER_URL"])


@pytest.fixture
def production_page(browser, production_app, production_db, staff_user):
    """A signed-in browser page on the production app."""
    # Chromium trusts only its own certificate store; the requests in these tests verify gunicorn's
    # certificate against the test CA instead, and the webhook sender verifies the receiver's.
    context = browser.new_context(base_url=production_app.url, ignore_https_errors=True)
    context.set_default_timeout(30_000)
    page = context.new_page()
    failed = []
    page.on("response", lambda response: response.status >= 400 and failed.append(response.url))
    sign_in(page, staff_user)
    yield page
    context.close()
    assert not failed, f"Requests that failed: {failed}"


@pytest.fixture
def https_receiver(tls):
    """The webhook tests' receiver behind TLS with a certificate for localhost from the test CA."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.server_cert.configure_cert(context)
    with Receiver(host="localhost", tls=context) as receiver:
        yield receiver


def upload(page, path) -> None:
    page.goto("/")
    page.locator("#upload-form input[type=file]").set_input_files(path)
    page.get_by_role("button", name="Upload and import").click()
    card = page.locator("#active-jobs .import-progress")
    expect(card.locator(".badge")).to_have_text("Completed", timeout=120_000)


def catalogue_csv(tmp_path):
    path = tmp_path / "catalogue.csv"
    path.write_text("sku,name,price\n" + "".join(f"PROD-{n},Product {n},{n}.50\n" for n in range(CSV_ROWS)))
    return path


def test_worker_processes_yield_the_cpu_to_web(production_app):
    """The worker and its pool processes run WORKER_NICENESS (10) below gunicorn's priority, so
    pages stay quick while an import keeps the cores busy."""
    web, worker = (production_app.processes[name].pid for name in ("web", "worker"))
    pool = Path(f"/proc/{worker}/task/{worker}/children").read_text().split()
    assert pool
    for pid in [worker, *map(int, pool)]:
        assert os.getpriority(os.PRIO_PROCESS, pid) - os.getpriority(os.PRIO_PROCESS, web) == 10


def test_deploy_check_passes_with_production_variables():
    """`check --deploy --fail-level WARNING` passes with only production's variables set."""
    env = production_environment(ALLOWED_HOSTS="products.example.com",
                                 CSRF_TRUSTED_ORIGINS="https://products.example.com")  # fmt: skip
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=env)
    assert result.returncode == 0, result.stdout + result.stderr


def test_without_debug_in_the_environment_the_app_runs_in_production_mode():
    """No DEBUG means DEBUG off: HTTPS redirect, HSTS, secure cookies and the SSRF guard on."""
    env = production_environment()
    del env["DEBUG"]
    names = ("DEBUG", "SECURE_SSL_REDIRECT", "SECURE_HSTS_SECONDS", "SESSION_COOKIE_SECURE", "WEBHOOKS_ALLOW_PRIVATE_URLS")
    code = f"from django.conf import settings; print([getattr(settings, name) for name in {names}])"
    result = manage("shell", "--no-imports", "-c", code, env=env)
    assert result.stdout.strip() == "[False, True, 60, True, False]", result.stderr


def test_without_debug_the_development_secret_key_is_refused():
    """A deploy that sets no SECRET_KEY does not start on the public development key."""
    env = production_environment()
    del env["DEBUG"], env["SECRET_KEY"]
    result = manage("check", env=env)
    assert result.returncode != 0
    assert "SECRET_KEY must be set when DEBUG is off." in result.stderr


def test_a_database_that_never_answers_fails_the_connection_instead_of_hanging():
    """A server that takes the TCP connection and then says nothing (the kernel completes the
    handshake of a socket nobody accepts on) ends in libpq's timeout after DATABASE_CONNECT_TIMEOUT."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        port = silent.getsockname()[1]
        env = production_environment(
            DATABASE_URL=f"postgres://importer@127.0.0.1:{port}/importer", DATABASE_CONNECT_TIMEOUT="2"
        )
        code = "from django.db import connection; connection.ensure_connection()"
        result = manage("shell", "--no-imports", "-c", code, env=env)
    assert result.returncode != 0
    assert "timeout expired" in result.stderr


@pytest.mark.django_db
def test_health_checks_answer_plain_http_while_pages_redirect_to_https(client, settings):
    """Load balancers probe /healthz and /readyz over plain HTTP: they are exempt from the redirect."""
    settings.SECURE_SSL_REDIRECT = True
    assert client.get("/login/").status_code == 301
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").status_code in (200, 503)


def test_static_files_come_from_the_manifest_with_hsts(production_app, production_db):
    """Pages link hashed static files that WhiteNoise serves cacheable forever; answers carry HSTS."""
    page = production_app.get("/login/")
    assert page.headers["Strict-Transport-Security"] == "max-age=60; includeSubDomains; preload"
    static_paths = re.findall(r'(?:href|src)="(/static/[^"]+)"', page.text)
    assert static_paths, page.text
    for path in static_paths:
        assert re.search(r"\.[0-9a-f]{12}\.\w+$", path), path
        response = production_app.get(path)
        assert response.status_code == 200, path
        assert "immutable" in response.headers["Cache-Control"]


def test_sign_in_import_a_csv_and_edit_a_product(production_page, tmp_path):
    """Sign in with Secure cookies, upload a CSV and watch a worker process complete it, then edit a product inline."""
    cookies = {cookie["name"]: cookie for cookie in production_page.context.cookies()}
    assert cookies["sessionid"]["secure"] and cookies["sessionid"]["httpOnly"]
    assert cookies["csrftoken"]["secure"]

    upload(production_page, catalogue_csv(tmp_path))
    job = ImportJob.objects.get()
    assert (job.status, job.rows_processed, job.created_count) == ("completed", CSV_ROWS, CSV_ROWS)

    production_page.goto("/products/")
    edit = production_page.get_by_role("button", name=re.compile(r"^Edit PROD-\d+$")).first
    sku = edit.get_attribute("aria-label").removeprefix("Edit ")
    edit.click()
    row = production_page.locator("#product-list tr.editing")
    row.get_by_role("textbox", name="Name").fill("Renamed in production")
    row.get_by_role("button", name="Save").click()
    expect(production_page.locator("#toasts")).to_contain_text(f"Product {sku} saved.")
    assert Product.objects.get(sku=sku).name == "Renamed in production"


def test_upload_completed_arrives_signed_over_https(production_page, https_receiver, tmp_path):
    """An endpoint added in the UI with the SSRF guard on receives `upload.completed` over verified
    HTTPS, addressed to its host name, and the Standard Webhooks library accepts the signature."""
    production_page.goto("/webhooks/")
    production_page.get_by_role("link", name="Add endpoint").click()
    production_page.get_by_label("URL").fill(https_receiver.url)
    production_page.get_by_label("Upload completed").check()
    production_page.get_by_role("button", name="Save").click()
    secret = production_page.get_by_test_id("secret").inner_text()

    upload(production_page, catalogue_csv(tmp_path))
    delivery = https_receiver.wait_for(1, timeout=120)[0]
    event = Webhook(secret).verify(delivery.body, delivery.headers)
    assert delivery.headers["host"] == https_receiver.url.split("/")[2]
    assert https_receiver.server_names == ["localhost"]
    assert event["type"] == "upload.completed"
    assert (event["data"]["status"], event["data"]["rows"]) == ("completed", CSV_ROWS)


def api_session(app: App, user) -> requests.Session:
    """A session on the app's API with a bearer token from `manage.py api_token`."""
    created = manage("api_token", user.username, env=app.env)
    assert created.returncode == 0, created.stderr
    session = requests.Session()
    session.trust_env = False  # REQUESTS_CA_BUNDLE would replace the test CA
    session.verify = app.ca_path
    session.headers["Authorization"] = f"Bearer {created.stdout.strip().splitlines()[-1]}"
    return session


def test_api_flow_with_a_bearer_token_from_the_command(production_app, production_db, staff_user, https_receiver):
    """Over HTTPS against gunicorn and a worker process, with a token from `manage.py api_token`:
    schema, docs, auth refusal, upload, poll, filter, patch, duplicate refused, create, delete,
    filtered export, and a webhook created, tested, its deliveries listed, deleted."""
    session = api_session(production_app, staff_user)
    api = production_app.url + "/api"

    assert session.get(f"{api}/schema/?format=json").json()["openapi"].startswith("3.")
    assert "swagger-ui" in session.get(f"{api}/docs/").text
    refused = requests.get(f"{api}/products/", verify=production_app.ca_path, allow_redirects=False)
    assert refused.status_code == 401 and refused.headers["Content-Type"] == "application/json"

    csv_text = "sku,name,description\nAPI-1,Oak table,Solid oak\nAPI-2,Pine shelf,Pine\nAPI-3,Oak chair,\n"
    job = session.post(f"{api}/imports/", files={"file": ("api.csv", csv_text)}).json()
    wait_for(lambda: session.get(f"{api}/imports/{job['id']}/").json()["status"] == "completed", 120, "the import")
    assert session.get(f"{api}/imports/{job['id']}/").json()["created"] == 3

    def oak_skus():  # found once the search catch-up the import queued has run
        return [product["sku"] for product in session.get(f"{api}/products/?sku=api&name=oak").json()["results"]]

    wait_for(lambda: oak_skus() == ["API-1", "API-3"], 60, "search to find the imported products")
    product = session.get(f"{api}/products/?sku=api-1").json()["results"][0]
    assert session.patch(f"{api}/products/{product['id']}/", json={"price": "12.50"}).json()["price"] == "12.50"
    duplicate = session.post(f"{api}/products/", json={"sku": "api-2", "name": "Copy"})
    assert duplicate.status_code == 400 and "api-2" in duplicate.json()["sku"][0].lower()
    new = session.post(f"{api}/products/", json={"sku": "API-4", "name": "Walnut desk"})
    assert new.status_code == 201
    assert session.delete(f"{api}/products/{new.json()['id']}/").status_code == 204
    export = session.get(f"{api}/products/export.csv?sku=api&name=oak")
    assert export.text.splitlines() == [
        "sku,name,description,price,active", "API-1,Oak table,Solid oak,12.50,t", 'API-3,Oak chair,"",,t'
    ]

    endpoint = session.post(f"{api}/webhooks/", json={"url": https_receiver.url, "events": ["product.created"]})
    assert endpoint.status_code == 201 and endpoint.json()["secret"].startswith("whsec_")
    endpoint_url = f"{api}/webhooks/{endpoint.json()['id']}/"
    delivery = session.post(f"{endpoint_url}test/").json()
    wait_for(lambda: session.get(f"{api}/deliveries/{delivery['id']}/").json()["status"] != "pending", 60, "the test")
    [listed] = session.get(f"{endpoint_url}deliveries/").json()["results"]
    assert listed["status"] == "succeeded" and listed["attempt_log"][0]["status_code"] == 200
    assert session.delete(endpoint_url).status_code == 204


def test_an_import_announces_every_product_once_signed_over_https(production_app, production_db, staff_user, https_receiver):
    """An import through the API, with an endpoint subscribed to product events, reaches the HTTPS
    receiver (SSRF guard on) as product.created events, PRODUCTS_PER_EVENT products each: every
    product exactly once, as stored (a SKU the file repeats with its last row), each delivery
    once and signed as the Standard Webhooks library verifies."""
    session = api_session(production_app, staff_user)
    api = production_app.url + "/api"
    endpoint = session.post(f"{api}/webhooks/", json={"url": https_receiver.url,
                                                      "events": ["product.created", "product.updated"]})  # fmt: skip
    assert endpoint.status_code == 201
    rows = [f"EVT-{n},Product {n},{n}.25" for n in range(2_100)] + ["evt-7,Product 7 again,7.75"]
    job = session.post(f"{api}/imports/", files={"file": ("events.csv", "sku,name,price\n" + "\n".join(rows))}).json()
    wait_for(lambda: session.get(f"{api}/imports/{job['id']}/").json()["status"] == "completed", 120, "the import")

    https_receiver.wait_for(3, timeout=120)  # 1,000 + 1,000 + 100 products
    wait_for(lambda: not Delivery.objects.exclude(status=Delivery.Status.SUCCEEDED).exists(), 60, "the deliveries")
    deliveries = list(https_receiver.requests)
    assert len(deliveries) == Delivery.objects.count() == 3
    webhook = Webhook(endpoint.json()["secret"])
    sent = [webhook.verify(delivery.body, delivery.headers) for delivery in deliveries]
    assert len({delivery.headers["webhook-id"] for delivery in deliveries}) == 3
    assert [event["type"] for event in sent] == ["product.created"] * 3
    products = [product for event in sent for product in event["data"]["products"]]
    assert len(products) == len({product["id"] for product in products}) == Product.objects.count() == 2_100
    stored = {product.pk: (product.sku, product.name, str(product.price)) for product in Product.objects.all()}
    assert {product["id"]: (product["sku"], product["name"], product["price"]) for product in products} == stored
    assert stored[next(p["id"] for p in products if p["sku"].lower() == "evt-7")][1:] == ("Product 7 again", "7.75")
