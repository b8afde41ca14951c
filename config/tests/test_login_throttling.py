"""Sign-in throttling (django-axes) on the staff login and the admin's, with a clear message."""

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model

from conftest import STAFF_PASSWORD

LOGIN_PAGES = ["/login/", "/admin/login/"]


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    """These tests check dozens of passwords: PBKDF2's deliberate slowness would cost minutes."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def _sign_in(client, path: str, username: str, password: str):
    return client.post(path, {"username": username, "password": password, "next": "/"})


@pytest.mark.django_db
@pytest.mark.parametrize("path", LOGIN_PAGES)
def test_too_many_failures_lock_the_account_with_a_message(client, staff_user, path):
    """After AXES_FAILURE_LIMIT wrong passwords even the right one is refused (429), and the
    login page says why and for how long."""
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert _sign_in(client, path, staff_user.username, "wrong").status_code == 200
    response = _sign_in(client, path, staff_user.username, "wrong")
    assert response.status_code == 429
    response = _sign_in(client, path, staff_user.username, STAFF_PASSWORD)
    assert response.status_code == 429
    html = response.content.decode()
    assert "Too many failed sign-ins for this account. Try again in 15 minutes." in html
    assert 'name="password"' in html  # the login page itself, not a bare error
    assert "_auth_user_id" not in client.session


@pytest.mark.django_db
@pytest.mark.parametrize("path", LOGIN_PAGES)
def test_lockout_is_per_account(client, staff_user, path):
    """Another account from the same address still signs in while one is locked."""
    for _ in range(settings.AXES_FAILURE_LIMIT):
        _sign_in(client, path, staff_user.username, "wrong")
    get_user_model().objects.create_user(username="colleague", password=STAFF_PASSWORD, is_staff=True)
    assert _sign_in(client, path, "colleague", STAFF_PASSWORD).status_code == 302


@pytest.mark.django_db
@pytest.mark.parametrize("path", LOGIN_PAGES)
def test_successful_sign_in_starts_the_count_afresh(client, staff_user, path):
    """Typos spread over many sign-ins never add up to a lockout."""
    for _ in range(2):
        for _ in range(settings.AXES_FAILURE_LIMIT - 1):
            assert _sign_in(client, path, staff_user.username, "wrong").status_code == 200
        assert _sign_in(client, path, staff_user.username, STAFF_PASSWORD).status_code == 302
        client.logout()
