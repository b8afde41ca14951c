"""The webhooks API: endpoints, their deliveries, tests and redeliveries. URLs are checked by the
staff form's own validation (scheme, syntax, public address), so the API refuses what it refuses."""

from django.db import transaction
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from api.rest import Conflict, StaffApiMixin
from webhooks import selectors, services
from webhooks.events import EVENT_TYPE_CHOICES
from webhooks.forms import EndpointForm
from webhooks.models import Delivery, DeliveryAttempt, Endpoint


class EndpointSerializer(serializers.ModelSerializer):
    url = serializers.CharField(max_length=2000, help_text="http or https; deliveries are POSTed here.")
    events = serializers.MultipleChoiceField(choices=EVENT_TYPE_CHOICES, source="event_types")

    class Meta:
        model = Endpoint
        fields = ["id", "url", "events", "description", "enabled", "disabled_reason", "created_at", "updated_at"]
        read_only_fields = ["id", "disabled_reason", "created_at", "updated_at"]

    def to_representation(self, endpoint):
        data = super().to_representation(endpoint)
        data["events"] = sorted(data["events"])
        return data

    def validate(self, attrs):
        """The staff form's validation, on the endpoint as this request would leave it."""
        current = self.instance or Endpoint(description="", event_types=[])
        data = {
            "url": attrs.get("url", current.url),
            "description": attrs.get("description", current.description),
            "event_types": sorted(attrs.get("event_types", current.event_types)),
        }
        form = EndpointForm(data, instance=self.instance)
        if not form.is_valid():
            errors = form.errors.copy()
            if "event_types" in errors:
                errors["events"] = errors.pop("event_types")
            raise ValidationError({field: list(messages) for field, messages in errors.items()})
        return {**form.cleaned_data, "enabled": attrs.get("enabled", current.enabled)}

    def save_endpoint(self) -> Endpoint:
        data = dict(self.validated_data)
        enabled = data.pop("enabled")
        with transaction.atomic():
            if self.instance is None:
                endpoint = services.endpoint_create(**data)
            else:
                endpoint = services.endpoint_update(endpoint=self.instance, **data)
            if enabled != endpoint.enabled:
                services.endpoint_enabled_set(endpoint=endpoint, enabled=enabled)
        return endpoint


class EndpointCreatedSerializer(EndpointSerializer):
    secret = serializers.CharField(
        read_only=True, help_text="The signing secret (whsec_…), shown only in this response."
    )

    class Meta(EndpointSerializer.Meta):
        fields = [*EndpointSerializer.Meta.fields, "secret"]


class AttemptSerializer(serializers.ModelSerializer):
    class Meta:
        model = DeliveryAttempt
        fields = ["attempted_at", "status_code", "response_ms", "response_excerpt", "error", "succeeded"]


class DeliverySerializer(serializers.ModelSerializer):
    endpoint = serializers.PrimaryKeyRelatedField(read_only=True)
    event = serializers.CharField(source="event.type", read_only=True, help_text="The event type.")
    attempt_log = AttemptSerializer(many=True, read_only=True, help_text="Every attempt, newest first.")

    class Meta:
        model = Delivery
        fields = [
            "id", "endpoint", "event", "message_id", "status", "attempts", "next_attempt_at", "last_attempt_at",
            "last_status_code", "last_response_ms", "last_error", "created_at", "attempt_log",
        ]


SECRET_SERIALIZER = inline_serializer("WebhookSecret", {"secret": serializers.CharField()})


class EndpointViewSet(
    StaffApiMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    queryset = Endpoint.objects.all()
    serializer_class = EndpointSerializer
    lookup_value_regex = r"\d+"
    # As on the staff pages (webhooks.views): changing an existing endpoint needs this.
    action_permissions = {
        "partial_update": ("webhooks.change_endpoint", "change webhook endpoints"),
        "rotate_secret": ("webhooks.change_endpoint", "rotate webhook secrets"),
    }
    http_method_names = ["get", "post", "patch", "delete"]

    @extend_schema(responses={201: EndpointCreatedSerializer})
    def create(self, request):
        """Add an endpoint; the response holds its signing secret, which is never shown again."""
        serializer = EndpointSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        endpoint = serializer.save_endpoint()
        return Response(EndpointCreatedSerializer(endpoint).data, status=status.HTTP_201_CREATED)

    def partial_update(self, request, pk=None):
        """Change an endpoint; a new URL makes waiting retries due now."""
        serializer = EndpointSerializer(self.get_object(), data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        return Response(EndpointSerializer(serializer.save_endpoint()).data)

    @extend_schema(responses={204: None})
    def destroy(self, request, pk=None):
        """Delete an endpoint with its delivery log."""
        services.endpoint_delete(endpoint=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=None, responses={202: SECRET_SERIALIZER})
    @action(detail=True, methods=["post"], url_path="rotate-secret")
    def rotate_secret(self, request, pk=None):
        """A new signing secret, used from the next request on; shown only in this response."""
        secret = services.endpoint_secret_rotate(endpoint=self.get_object())
        return Response({"secret": secret}, status=status.HTTP_202_ACCEPTED)

    @extend_schema(request=None, responses={202: DeliverySerializer})
    @action(detail=True, methods=["post"])
    def test(self, request, pk=None):
        """Queue a signed `webhook.test` event; its delivery shows the result once attempted."""
        delivery = services.endpoint_test(endpoint=self.get_object())
        return Response(DeliverySerializer(delivery).data, status=status.HTTP_202_ACCEPTED)



class EndpointDeliveryViewSet(StaffApiMixin, mixins.ListModelMixin, viewsets.GenericViewSet):
    """An endpoint's deliveries, newest first, with their attempts."""

    serializer_class = DeliverySerializer

    def get_queryset(self):
        endpoint = get_object_or_404(Endpoint, pk=self.kwargs["endpoint_pk"])
        return selectors.endpoint_deliveries(endpoint=endpoint)


class DeliveryViewSet(StaffApiMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    queryset = Delivery.objects.select_related("event").defer("event__payload").prefetch_related("attempt_log")
    serializer_class = DeliverySerializer
    lookup_value_regex = r"\d+"

    @extend_schema(request=None, responses={202: DeliverySerializer})
    @action(detail=True, methods=["post"])
    def redeliver(self, request, pk=None):
        """Send a finished delivery again (same webhook-id); 409 while it is still pending."""
        delivery = self.get_object()
        if not services.delivery_redeliver(delivery=delivery):
            raise Conflict("This delivery is already queued.")
        return Response(DeliverySerializer(self.get_object()).data, status=status.HTTP_202_ACCEPTED)
