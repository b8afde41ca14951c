from django import forms
from django.db.models import Value

from products.limits import PRICE_DECIMAL_PLACES, PRICE_MAX_DIGITS
from products.models import Product, sku_key
from products.selectors import ProductFilters
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


class ProductForm(forms.ModelForm):
    price = forms.DecimalField(
        required=False,
        min_value=0,
        max_digits=PRICE_MAX_DIGITS,
        decimal_places=PRICE_DECIMAL_PLACES,
        widget=forms.NumberInput(attrs={"step": "0.01"}),
    )

    class Meta:
        model = Product
        fields = ["sku", "name", "description", "price", "active"]
        widgets = {"description": forms.Textarea(attrs={"rows": 2})}

    def clean_sku(self):
        sku = self.cleaned_data["sku"]
        taken = (
            Product.objects.alias(key=sku_key())
            .filter(key=sku_key(Value(sku)))
            .exclude(pk=self.instance.pk)
            .exists()
        )
        if taken:
            raise forms.ValidationError(sku_taken_message(sku), code="unique")
        return sku
