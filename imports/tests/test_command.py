"""`manage.py import_products`: the same pipeline from a terminal."""

import io
import json

import pytest
from django.core.management import CommandError, call_command

from imports.models import ImportJob
from products.models import Product


@pytest.fixture
def csv_file(tmp_path):
    def write(content: bytes | str, name="products.csv"):
        path = tmp_path / name
        path.write_bytes(content.encode() if isinstance(content, str) else content)
        return path

    return write


@pytest.mark.django_db
def test_imports_in_process_and_prints_a_summary(csv_file, capsys):
    """Without --async the command imports right away and summarises the result."""
    call_command("import_products", str(csv_file("sku,name\na,A\nb,B\n,C\n")))
    out = capsys.readouterr().out
    assert "completed with errors" in out
    assert "3 rows, 2 created, 0 updated, 0 unchanged, 0 duplicates, 1 skipped." in out
    assert "line 4 sku: SKU is required." in out
    assert Product.objects.count() == 2
    assert ImportJob.objects.get().file.name.startswith("imports/")


@pytest.mark.django_db
def test_json_output_has_the_counts_and_first_errors(csv_file, capsys):
    """--json prints one JSON object with job, status, counts and the first row errors."""
    call_command("import_products", str(csv_file("sku,name\na,A\nA,B\n,C\n")), "--json")
    result = json.loads(capsys.readouterr().out)
    assert result["job"] == ImportJob.objects.get().pk
    counts = [result[name] for name in ("rows", "created", "updated", "unchanged", "duplicates", "skipped")]
    assert (result["status"], counts) == ("completed_with_errors", [3, 1, 0, 0, 1, 1])
    assert result["errors"] == [{"line": 4, "column": "sku", "value": "", "message": "SKU is required."}]


@pytest.mark.django_db
def test_failed_import_exits_non_zero(csv_file, capsys):
    """A file that cannot be imported makes the command fail with the reason."""
    with pytest.raises(CommandError, match="The file is binary"):
        call_command("import_products", str(csv_file(b"sku,name\n\x00\x01")), "--json")
    assert json.loads(capsys.readouterr().out)["status"] == "failed"


@pytest.mark.django_db
def test_async_only_queues_the_job(csv_file, capsys, django_capture_on_commit_callbacks):
    """--async stages the file and queues the task for a worker instead of importing."""
    with django_capture_on_commit_callbacks() as callbacks:
        call_command("import_products", str(csv_file("sku,name\na,A\n")), "--async")
    job = ImportJob.objects.get()
    assert job.status == "queued" and len(callbacks) == 1
    assert f"Queued import #{job.pk}" in capsys.readouterr().out
    assert not Product.objects.exists()


def test_missing_file_is_an_error(tmp_path):
    """A path that is not a file is refused before anything is staged."""
    with pytest.raises(CommandError, match="No such file"):
        call_command("import_products", str(tmp_path / "nope.csv"))


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.django_db
def test_progress_bar_goes_to_a_terminals_stderr_without_colour(csv_file, capsys):
    """On a terminal the bar is drawn on stderr in the terminal's own colours; stdout keeps only the summary."""
    stderr = Terminal()
    call_command("import_products", str(csv_file("sku,name\na,A\n")), stderr=stderr, force_color=True)
    assert "100%" in stderr.getvalue() and "[" + "#" * 30 + "]" in stderr.getvalue()
    assert "\x1b[" not in stderr.getvalue()
    assert "%" not in capsys.readouterr().out
