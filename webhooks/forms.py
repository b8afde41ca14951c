from django import forms

from webhooks.events import EVENT_TYPE_CHOICES
from webhooks.models import Delivery, Endpoint
from webhooks.validators import endpoint_url_validate


class EndpointURLField(forms.URLField):
    default_validators = [endpoint_url_validate]  # checks the format too, so one error per problem


class EndpointForm(forms.ModelForm):
    url = EndpointURLField(
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


class DeliveryFilterForm(forms.Form):
    status = forms.ChoiceField(choices=[("", "All")] + Delivery.Status.choices, required=False)
