"""Nothing answers an API client with HTML: unknown paths, wrong methods, bad bodies and crashes are JSON."""

import pytest

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("path", ["/api/nothing-here/", "/api/products/abc/", "/api/products", "/api/imports/1/nope"])
def test_unknown_api_paths_are_json_404s(api_client, path):
    """Paths the API does not have answer 404 JSON, not Django's HTML page."""
    response = api_client.get(path)
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json" and "detail" in response.json()


def test_wrong_method_is_a_json_405(api_client):
    """A method a resource does not take: 405 JSON."""
    response = api_client.put("/api/products/delete-all/", {}, format="json")
    assert response.status_code == 405 and "detail" in response.json()


def test_malformed_json_is_a_json_400(api_client):
    """A body that is not JSON: 400 JSON."""
    response = api_client.generic("POST", "/api/products/", "{not json", content_type="application/json")
    assert response.status_code == 400 and "JSON parse error" in response.json()["detail"]


def test_html_is_never_negotiated(api_client):
    """A browser-like Accept header still gets JSON (there is no browsable API)."""
    response = api_client.get("/api/products/", HTTP_ACCEPT="text/html,application/xhtml+xml,*/*;q=0.8")
    assert response["Content-Type"] == "application/json"


def test_unexpected_error_is_a_logged_json_500(api_client, monkeypatch, caplog):
    """A crash inside a view is logged and answered 500 JSON in the same shape."""
    from products import selectors

    def crash(**kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(selectors, "product_keyset_page", crash)
    response = api_client.get("/api/products/")
    assert response.status_code == 500
    assert response.json() == {"detail": "A server error occurred."}
    assert "boom" in caplog.text


def test_export_errors_are_json_too(client):
    """The CSV export refuses a missing token with 401 JSON, not CSV."""
    response = client.get("/api/products/export.csv", HTTP_ACCEPT="text/csv")
    assert response.status_code == 401 and response["Content-Type"] == "application/json"
