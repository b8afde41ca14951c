from django.db import models
from knox.models import AbstractAuthToken


class ApiToken(AbstractAuthToken):
    """A staff member's API token, stored as a SHA-512 digest (knox): the token itself is shown
    once, when created. The name says what uses it, so that staff know which one to revoke."""

    name = models.CharField(max_length=100, help_text="What uses this token, e.g. “ERP nightly import”.")

    class Meta:
        ordering = ["-created"]
        verbose_name = "API token"

    def __str__(self):
        return f"{self.name} ({self.user})"
