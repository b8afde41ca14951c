import socket

from django import forms
from django.core.validators import URLValidator

from webhooks.events import EVENT_TYPE_CHOICES
from webhooks.models import Delivery, Endpoint
from webhooks.urlguard import UnsafeURLError, url_check_public


class HttpURLField(forms.URLField):
    # Instead of the default validator, not beside it: one "Enter a valid URL." per bad URL.
    default_validators = [URLValidator(schemes=["http", "https"])]


class EndpointForm(forms.ModelForm):
    url = HttpURLField(
        label="URL",
        max_length=2000,
        assume_scheme="https",
        help_text="http or https. Deliveries are POSTed here.",
    )
    event_types = forms.MultipleChoiceField(
        label="Events", choices=EVENT_TYPE_CHOICES, widget=forms.CheckboxSelectMultiple
    )

    class Meta:
        model = Endpoint
        fields = ["url", "description", "event_types"]

    def clean_url(self):
        url = self.cleaned_data["url"]
        try:
            url_check_public(url)
        except UnsafeURLError as exc:
            raise forms.ValidationError(str(exc)) from exc
        except socket.gaierror as exc:
            raise forms.ValidationError("The host name does not resolve.") from exc
        return url


class DeliveryFilterForm(forms.Form):
    status = forms.ChoiceField(choices=[("", "All")] + Delivery.Status.choices, required=False)
