import pytest
from django.urls import reverse

from products.models import DeleteAllJob
from products.tests.factories import product_make

pytestmark = pytest.mark.django_db


def test_product_admin_pages_render(admin_client):
    """The product changelist and change form work with the stored search column."""
    product = product_make("ABC-1")
    assert admin_client.get(reverse("admin:products_product_changelist"), {"q": "abc"}).status_code == 200
    assert admin_client.get(reverse("admin:products_product_change", args=[product.pk])).status_code == 200


def test_delete_all_jobs_are_visible_in_the_admin(admin_client, admin_user):
    """Staff see who ran a delete-all, when, and how many products went."""
    DeleteAllJob.objects.create(requested_by=admin_user, status=DeleteAllJob.Status.SUCCEEDED, deleted_count=1234)
    body = admin_client.get(reverse("admin:products_deletealljob_changelist")).content.decode()
    assert "admin" in body and "1234" in body
