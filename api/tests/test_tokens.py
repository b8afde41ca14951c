"""Staff manage their API tokens: the page, the admin and the api_token command."""

import io

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from api.models import ApiToken

pytestmark = pytest.mark.django_db


def test_tokens_page_creates_a_token_shown_once(staff_client):
    """Creating a named token shows it once; the page never shows it again, and it works."""
    response = staff_client.post("/tokens/", {"name": "ERP nightly"})
    assert response.status_code == 200
    secret = response.context["secret"]
    assert secret in response.content.decode()
    page = staff_client.get("/tokens/").content.decode()
    assert "ERP nightly" in page and secret not in page
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert api.get("/api/products/").status_code == 200


def test_tokens_page_needs_a_name(staff_client):
    """A token without a name is refused (422) and none is created."""
    assert staff_client.post("/tokens/", {"name": ""}).status_code == 422
    assert not ApiToken.objects.exists()


def test_revoke_from_the_page_only_touches_ones_own_tokens(staff_client, staff_user):
    """Revoke deletes the staff member's token; another user's token cannot be revoked this way."""
    from api.services import api_token_create

    mine, _ = api_token_create(user=staff_user, name="mine")
    other_user = get_user_model().objects.create_user(username="other", password="x", is_staff=True)
    theirs, _ = api_token_create(user=other_user, name="theirs")
    assert "theirs" not in staff_client.get("/tokens/").content.decode()
    staff_client.post("/tokens/revoke/", {"digest": theirs.digest})
    staff_client.post("/tokens/revoke/", {"digest": mine.digest})
    assert list(ApiToken.objects.values_list("name", flat=True)) == ["theirs"]


def test_admin_lists_tokens_without_the_secret(admin_client, staff_user):
    """The admin shows name and owner, never the token (only its digest is stored), and cannot add one."""
    from api.services import api_token_create

    _, secret = api_token_create(user=staff_user, name="ERP")
    html = admin_client.get("/admin/api/apitoken/").content.decode()
    assert "ERP" in html and secret not in html
    assert admin_client.get("/admin/api/apitoken/add/").status_code == 403


def test_command_prints_a_working_token_on_its_last_line(staff_user):
    """`api_token USERNAME` prints the token last; it authenticates as that user."""
    out = io.StringIO()
    call_command("api_token", "staff", "--name", "CI", stdout=out, stderr=io.StringIO())
    secret = out.getvalue().strip().splitlines()[-1]
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert api.get("/api/products/").status_code == 200
    assert ApiToken.objects.get().name == "CI"


def test_command_refuses_unknown_and_non_staff_users(db):
    """No token for a name nobody has, nor for an account without staff status."""
    get_user_model().objects.create_user(username="customer", password="x")
    with pytest.raises(CommandError, match="No user"):
        call_command("api_token", "nobody")
    with pytest.raises(CommandError, match="not an active staff account"):
        call_command("api_token", "customer")
    assert not ApiToken.objects.exists()
