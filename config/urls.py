from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.views.generic import RedirectView

from config import activity, views
from config import admin as _admin_site  # noqa: F401 - titles and read-only task results
from config.forms import AdminLoginForm, StaffAuthenticationForm

admin.site.login_form = AdminLoginForm

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="imports:index", permanent=False), name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("readyz", views.readyz, name="readyz"),
    path("favicon.ico", views.favicon, name="favicon"),
    path("activity/", activity.activity_indicator, name="activity"),
    path("login/", auth_views.LoginView.as_view(authentication_form=StaffAuthenticationForm), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("imports/", include("imports.urls")),
    path("products/", include("products.urls")),
    path("webhooks/", include("webhooks.urls")),
    path("admin/", admin.site.urls),
]
