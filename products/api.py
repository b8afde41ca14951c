"""The products API: a thin layer over the products services and selectors. Input is checked by
the staff UI's own forms, so the API answers with the same rules and messages."""

import base64
import binascii

from django.http import StreamingHttpResponse
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param

from api.rest import Conflict, CsvRenderer, StaffApiMixin
from products import selectors, services
from products.export import product_export_csv
from products.forms import ProductFilterForm, ProductForm
from products.models import DeleteAllJob, Product

FILTER_PARAMETERS = [
    OpenApiParameter("sku", str, description="SKU contains this, in any letter case."),
    OpenApiParameter("name", str, description="Name contains this, in any letter case."),
    OpenApiParameter("description", str, description="Description has all these whole English words."),
    OpenApiParameter("active", str, enum=["yes", "no"], description="Only active (yes) or inactive (no) products."),
]


def form_errors(form) -> dict:
    """A Django form's errors in DRF's shape (`non_field_errors` for the form-wide ones)."""
    return {"non_field_errors" if field == "__all__" else field: list(errors) for field, errors in form.errors.items()}


class ProductSerializer(serializers.ModelSerializer):
    price = serializers.CharField(
        allow_null=True, allow_blank=True, required=False,
        help_text="A decimal with at most 2 decimals, e.g. \"12.50\", at least 0; null for none.",
    )

    class Meta:
        model = Product
        fields = ["id", "sku", "name", "description", "price", "active", "created_at", "updated_at"]
        read_only_fields = ["id", "created_at", "updated_at"]
        # Types only: the form checks the rules (lengths, blanks, a SKU taken in any case, a
        # negative price), so that each is refused with the one message the UI shows.
        extra_kwargs = {
            "sku": {"validators": [], "allow_blank": True, "max_length": None, "required": False},
            "name": {"allow_blank": True, "max_length": None, "required": False},
        }

    def validate(self, attrs):
        """The staff form's validation, on the product as this request would leave it."""
        current = self.instance or Product()
        data = {field: attrs.get(field, getattr(current, field)) for field in services.EDITABLE_FIELDS}
        form = ProductForm(data, instance=self.instance)
        if not form.is_valid():
            raise ValidationError(form_errors(form))
        return form.cleaned_data


class DeleteAllSerializer(serializers.Serializer):
    confirm = serializers.BooleanField(help_text="Must be true: every product is deleted.")

    def validate_confirm(self, value):
        if not value:
            raise ValidationError("Set confirm to true to delete every product.")
        return value


class DeleteAllJobSerializer(serializers.ModelSerializer):
    class Meta:
        model = DeleteAllJob
        fields = ["id", "status", "deleted_count", "error", "created_at", "finished_at"]


def _cursor_encode(direction: str, product_id: int) -> str:
    return base64.urlsafe_b64encode(f"{direction}{product_id}".encode()).decode().rstrip("=")


def _cursor_decode(cursor: str) -> tuple[str, int]:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        direction, product_id = text[0], int(text[1:])
    except (binascii.Error, UnicodeDecodeError, ValueError, IndexError):
        raise ValidationError({"cursor": ["This is not a cursor of this list."]}) from None
    if direction not in "ab" or product_id < 0:
        raise ValidationError({"cursor": ["This is not a cursor of this list."]})
    return direction, product_id


class ProductViewSet(StaffApiMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    queryset = Product.objects.all()
    serializer_class = ProductSerializer
    lookup_value_regex = r"\d+"

    def get_renderers(self):
        return [CsvRenderer()] if self.action == "export" else super().get_renderers()

    # The default pagination class documents the page (next, previous, results, and the cursor
    # and per_page parameters); the page itself comes from the selector.
    @extend_schema(parameters=FILTER_PARAMETERS, responses=ProductSerializer)
    def list(self, request):
        """Products in id order, filtered as the staff list filters, a page at a time by cursor
        (per_page: 25, 50 or 100)."""
        form = ProductFilterForm(request.query_params)
        per_page = form.page_size()
        cursor = request.query_params.get("cursor")
        direction, product_id = _cursor_decode(cursor) if cursor else ("a", None)
        page = selectors.product_keyset_page(
            filters=form.filters(),
            per_page=per_page,
            **{"after" if direction == "a" else "before": product_id},
        )
        url = request.build_absolute_uri()
        links = {"next": None, "previous": None}
        if page.products:
            first, last = page.products[0].id, page.products[-1].id
            forward_more = page.has_more if direction == "a" else True
            backward_more = page.has_more if direction == "b" else product_id is not None
            if forward_more:
                links["next"] = replace_query_param(url, "cursor", _cursor_encode("a", last))
            if backward_more:
                links["previous"] = replace_query_param(url, "cursor", _cursor_encode("b", first))
        return Response({**links, "results": ProductSerializer(page.products, many=True).data})

    @extend_schema(responses={201: ProductSerializer})
    def create(self, request):
        """Create a product (product.created). A SKU taken in any letter case is refused on `sku`."""
        serializer = ProductSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        product = services.product_create(**serializer.validated_data)
        return Response(ProductSerializer(product).data, status=status.HTTP_201_CREATED)

    def update(self, request, pk=None, partial=False):
        """Change a product (product.updated)."""
        product = self.get_object()
        serializer = ProductSerializer(product, data=request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        services.product_update(product=product, data=serializer.validated_data)
        return Response(ProductSerializer(product).data)

    def partial_update(self, request, pk=None):
        """Change some of a product's fields (product.updated)."""
        return self.update(request, pk, partial=True)

    @extend_schema(responses={204: None})
    def destroy(self, request, pk=None):
        """Delete a product (product.deleted)."""
        services.product_delete(product=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        parameters=FILTER_PARAMETERS,
        responses={
            (200, "text/csv"): OpenApiResponse(OpenApiTypes.STR, description="sku,name,description,price,active")
        },
    )
    def export(self, request):
        """The filtered products as CSV in id order, streamed; the file re-imports as it is."""
        filters = ProductFilterForm(request.query_params).filters()
        response = StreamingHttpResponse(product_export_csv(filters=filters), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = 'attachment; filename="products.csv"'
        return response


class DeleteAllViewSet(StaffApiMixin, viewsets.GenericViewSet):
    queryset = DeleteAllJob.objects.all()
    serializer_class = DeleteAllJobSerializer
    action_permissions = {"create": ("products.add_deletealljob", "delete all products")}

    @extend_schema(request=DeleteAllSerializer, responses={202: DeleteAllJobSerializer})
    def create(self, request):
        """Delete every product in the background; the job reports how it went. Refused (409)
        while an import is writing; a pending job is returned rather than a second one started."""
        DeleteAllSerializer(data=request.data).is_valid(raise_exception=True)
        try:
            job = services.products_delete_all_start(requested_by=request.user)
        except services.CatalogueBusy as error:
            raise Conflict(str(error)) from error
        return Response(DeleteAllJobSerializer(job).data, status=status.HTTP_202_ACCEPTED)

    def retrieve(self, request, pk=None):
        """A delete-all job."""
        return Response(DeleteAllJobSerializer(get_object_or_404(DeleteAllJob, pk=pk)).data)
