from django import forms
from django.conf import settings
from django.template.defaultfilters import filesizeformat

from imports.parsing import sniff_problem

SNIFF_BYTES = 64 * 1024


class ImportUploadForm(forms.Form):
    file = forms.FileField(
        label="CSV file",
        required=False,  # a file dropped for its size arrives as no file; clean_file says which
        help_text="Columns: sku and name (required), description and price (optional).",
    )

    def __init__(self, *args, too_large: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.too_large = too_large

    def clean_file(self):
        limit = settings.IMPORT_MAX_UPLOAD_BYTES
        file = self.cleaned_data["file"]
        if self.too_large or (file and file.size > limit):
            raise forms.ValidationError(f"The file is larger than the {filesizeformat(limit)} limit.")
        if not file:
            raise forms.ValidationError("Choose a CSV file to import.")
        head = file.read(SNIFF_BYTES)
        file.seek(0)
        if problem := sniff_problem(head, whole_file=len(head) >= file.size):
            raise forms.ValidationError(problem)
        return file
