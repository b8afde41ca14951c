"""The imports API: upload a CSV file exactly as the browser does (same size limit, same form),
then follow, cancel and retry its job. A thin layer over the imports services and selectors."""

from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response

from api.rest import Conflict, CsvRenderer, StaffApiMixin
from imports import selectors, services, views
from imports.forms import ImportUploadForm
from imports.models import ImportJob, ImportRowError
from imports.uploadhandlers import ImportSizeLimitHandler


class RowErrorSerializer(serializers.ModelSerializer):
    class Meta:
        model = ImportRowError
        fields = ["line", "column", "value", "message"]


class ImportJobSerializer(serializers.ModelSerializer):
    name = serializers.CharField(source="original_name", read_only=True)
    percent = serializers.IntegerField(source="progress.percent", read_only=True)
    progress = serializers.CharField(
        source="progress.text", read_only=True, help_text="What the job is doing, for people."
    )
    rows = serializers.IntegerField(source="rows_processed", read_only=True, help_text="Data rows read, valid or not.")
    rows_per_second = serializers.IntegerField(source="progress.rows_per_second", read_only=True, allow_null=True)
    eta_seconds = serializers.IntegerField(source="progress.eta_seconds", read_only=True, allow_null=True)
    created = serializers.IntegerField(source="created_count", read_only=True, help_text="New products.")
    updated = serializers.IntegerField(
        source="updated_count", read_only=True, help_text="Existing products whose values changed."
    )
    unchanged = serializers.IntegerField(
        source="unchanged_count", read_only=True, help_text="Existing products whose values did not change."
    )
    duplicates = serializers.IntegerField(
        source="duplicate_count", read_only=True,
        help_text="Rows superseded by a later row with the same SKU (any letter case) in the file.",
    )
    skipped = serializers.IntegerField(source="skipped_count", read_only=True, help_text="Invalid rows left out.")
    errors = serializers.IntegerField(source="error_count", read_only=True, help_text="Row errors found.")

    class Meta:
        model = ImportJob
        fields = [
            "id", "name", "size", "status", "stage", "progress", "percent", "rows", "rows_per_second",
            "eta_seconds", "created", "updated", "unchanged", "duplicates", "skipped", "errors", "warnings", "error_message",
            "cancel_requested", "can_cancel", "can_retry", "created_at", "started_at", "finished_at",
        ]
        read_only_fields = fields

    def to_representation(self, job):
        job.progress = selectors.import_job_progress(job=job)
        return super().to_representation(job)


class ImportJobDetailSerializer(ImportJobSerializer):
    first_errors = serializers.SerializerMethodField(
        help_text=f"The first {views.ROW_ERRORS_SHOWN} row errors; all are in errors.csv."
    )

    class Meta(ImportJobSerializer.Meta):
        fields = [*ImportJobSerializer.Meta.fields, "first_errors"]
        read_only_fields = fields

    def get_first_errors(self, job) -> list[dict]:
        return RowErrorSerializer(job.row_errors.all()[:views.ROW_ERRORS_SHOWN], many=True).data


class ImportUploadSerializer(serializers.Serializer):
    file = serializers.FileField(
        help_text="A UTF-8 CSV file with the columns sku and name, and optionally description and price."
    )


class ImportJobViewSet(StaffApiMixin, mixins.ListModelMixin, viewsets.GenericViewSet):
    queryset = selectors.import_job_list()
    serializer_class = ImportJobSerializer
    parser_classes = [MultiPartParser]  # uploads; the other actions take no body
    lookup_value_regex = r"\d+"

    def get_renderers(self):
        return [CsvRenderer()] if self.action == "errors_csv" else super().get_renderers()

    def initialize_request(self, request, *args, **kwargs):
        # The size limit must see the body before anything reads it (the CSRF check of session
        # authentication does), as in the browser upload (imports.views.upload).
        if request.method == "POST":
            request.size_limit = ImportSizeLimitHandler(request)
            request.upload_handlers.insert(0, request.size_limit)
        return super().initialize_request(request, *args, **kwargs)


    @extend_schema(request={"multipart/form-data": ImportUploadSerializer}, responses={202: ImportJobDetailSerializer})
    def create(self, request):
        """Stage a CSV file and queue its import. A file that is too large, not CSV text, or whose
        header cannot be imported is refused at once with 400 on `file`."""
        form = ImportUploadForm(data={}, files=request.FILES, too_large=request._request.size_limit.too_large)
        if not form.is_valid():
            raise ValidationError({"file": form.errors["file"]})
        file = form.cleaned_data["file"]
        job = services.import_job_create(file=file, name=file.name, user=request.user)
        return Response(ImportJobDetailSerializer(job).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(responses=ImportJobDetailSerializer)
    def retrieve(self, request, pk=None):
        """A job's status, stage, progress, counts, error message and first row errors."""
        return Response(ImportJobDetailSerializer(self.get_object()).data)

    @extend_schema(request=None, responses={202: ImportJobDetailSerializer})
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        """Stop the import: a queued one at once, a running one after its current batch."""
        return self._act(services.import_job_cancel)

    @extend_schema(request=None, responses={202: ImportJobDetailSerializer})
    @action(detail=True, methods=["post"])
    def retry(self, request, pk=None):
        """Queue a failed or cancelled import again from its staged file."""
        return self._act(services.import_job_retry)

    def _act(self, service):
        try:
            job = service(job=self.get_object())
        except DjangoValidationError as error:
            raise Conflict(error.messages[0]) from error
        return Response(ImportJobDetailSerializer(job).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(
        responses={(200, "text/csv"): OpenApiResponse(OpenApiTypes.STR, description="line,column,value,message")}
    )
    def errors_csv(self, request, pk=None):
        """Every row error of the job as CSV (404 when it has none)."""
        return views.errors_csv(request._request, pk=pk)
