def test_staff_user_signs_in_and_sees_navigation(staff_page):
    """Signing in through the real login form lands on the app with its navigation."""
    navigation = staff_page.get_by_role("navigation", name="Main")
    for label in ("Imports", "Products", "Webhooks", "Admin"):
        assert navigation.get_by_role("link", name=label).is_visible()
    navigation.get_by_role("link", name="Products").click()
    staff_page.wait_for_url("**/products/")
    assert staff_page.get_by_role("heading", level=1).inner_text() == "Products"


def test_wrong_password_shows_an_error(page, staff_user):
    """A wrong password keeps the visitor on the login page with a clear message."""
    page.goto("/login/")
    page.get_by_label("Username").fill(staff_user.username)
    page.get_by_label("Password").fill("wrong")
    page.get_by_role("button", name="Sign in").click()
    assert page.get_by_text("Please enter a correct username and password").is_visible()
