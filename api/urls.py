from django.contrib.auth.decorators import login_not_required
from django.urls import path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.routers import SimpleRouter

from api.views import NotFoundView
from imports.api import ImportJobViewSet
from products.api import DeleteAllViewSet, ProductViewSet
from webhooks.api import DeliveryViewSet, EndpointDeliveryViewSet, EndpointViewSet

app_name = "api"

router = SimpleRouter()
router.register("products", ProductViewSet, basename="product")
router.register("imports", ImportJobViewSet, basename="import")
router.register("webhooks", EndpointViewSet, basename="webhook")
router.register("deliveries", DeliveryViewSet, basename="delivery")

urlpatterns = [
    # Open on purpose: the schema describes the API, not its data; Swagger UI then signs in
    # with the session or a token.
    path("schema/", login_not_required(SpectacularAPIView.as_view()), name="schema"),
    path("docs/", login_not_required(SpectacularSwaggerView.as_view(url_name="api:schema")), name="docs"),
    path("products/export.csv", ProductViewSet.as_view({"get": "export"}), name="product-export"),
    path("products/delete-all/", DeleteAllViewSet.as_view({"post": "create"}), name="delete-all"),
    path("products/delete-all/<int:pk>/", DeleteAllViewSet.as_view({"get": "retrieve"}), name="delete-all-job"),
    path("imports/<int:pk>/errors.csv", ImportJobViewSet.as_view({"get": "errors_csv"}), name="import-errors"),
    path(
        "webhooks/<int:endpoint_pk>/deliveries/",
        EndpointDeliveryViewSet.as_view({"get": "list"}),
        name="webhook-deliveries",
    ),
    *router.urls,
    re_path(r"^.*$", NotFoundView.as_view(), name="not-found"),
]
