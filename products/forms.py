from django import forms

from products import limits
from products.models import Product
from products.selectors import ProductFilters, ProductSort, product_sku_taken
from products.services import sku_taken_message

PAGE_SIZES = [25, 50, 100]
DEFAULT_PAGE_SIZE = 50


class ProductFilterForm(forms.Form):
    """The list's query string. Invalid values fall back to their defaults instead of failing."""

    sku = forms.CharField(required=False, max_length=64, label="SKU")
    name = forms.CharField(required=False, max_length=255)
    description = forms.CharField(required=False, max_length=255)
    active = forms.ChoiceField(
        required=False, choices=[("", "All"), ("yes", "Active"), ("no", "Inactive")], label="Status"
    )
    per_page = forms.TypedChoiceField(
        required=False, choices=[(size, str(size)) for size in PAGE_SIZES], coerce=int, label="Per page"
    )
    page = forms.IntegerField(required=False, min_value=1)
    sort = forms.CharField(required=False, max_length=16)

    def _value(self, name, default):
        self.is_valid()
        return self.cleaned_data.get(name) or default

    def filters(self) -> ProductFilters:
        active = self._value("active", "")
        return ProductFilters(
            sku=self._value("sku", ""),
            name=self._value("name", ""),
            description=self._value("description", ""),
            active=None if not active else active == "yes",
        )

    def page_number(self) -> int:
        return self._value("page", 1)

    def page_size(self) -> int:
        return self._value("per_page", DEFAULT_PAGE_SIZE)

    def ordering(self) -> ProductSort:
        return ProductSort.parse(self._value("sort", ""))


class ProductForm(forms.ModelForm):
    price = forms.DecimalField(
        required=False,
        min_value=0,
        max_digits=limits.PRICE_MAX_DIGITS,
        decimal_places=limits.PRICE_DECIMAL_PLACES,
        widget=forms.NumberInput(attrs={"step": "0.01"}),
        error_messages={
            "invalid": limits.PRICE_INVALID_MESSAGE,
            "min_value": limits.PRICE_NEGATIVE_MESSAGE,
            "max_digits": limits.PRICE_TOO_LARGE_MESSAGE,
            "max_whole_digits": limits.PRICE_TOO_LARGE_MESSAGE,
            "max_decimal_places": limits.PRICE_DECIMALS_MESSAGE,
        },
    )

    class Meta:
        model = Product
        fields = ["sku", "name", "description", "price", "active"]
        widgets = {"description": forms.Textarea(attrs={"rows": 2})}
        error_messages = {
            "sku": {"required": limits.SKU_REQUIRED_MESSAGE, "max_length": limits.SKU_TOO_LONG_MESSAGE},
            "name": {"required": limits.NAME_REQUIRED_MESSAGE, "max_length": limits.NAME_TOO_LONG_MESSAGE},
        }

    def clean_sku(self):
        sku = self.cleaned_data["sku"]
        if taken := product_sku_taken(sku=sku, exclude_pk=self.instance.pk):
            raise forms.ValidationError(sku_taken_message(taken), code="unique")
        return sku


class ProductBulkForm(forms.Form):
    """Products ticked on one page of the list, and what to do with them."""

    ACTIONS = {"activate": "activated", "deactivate": "deactivated", "delete": "deleted"}

    action = forms.ChoiceField(choices=[(action, action) for action in ACTIONS])
    ids = forms.ModelMultipleChoiceField(queryset=Product.objects.order_by("id"), error_messages={"required": "Select products first."})
