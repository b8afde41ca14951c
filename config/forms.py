from django import forms
from django.conf import settings
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm


class ThrottledLoginMixin:
    """Say so when django-axes refused the sign-in, instead of "wrong password"."""

    def clean(self):
        try:
            return super().clean()
        except forms.ValidationError:
            if getattr(self.request, "axes_locked_out", False):
                minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
                raise forms.ValidationError(
                    f"Too many failed sign-ins for this account. Try again in {minutes} minutes.",
                    code="locked_out",
                ) from None
            raise


class StaffAuthenticationForm(ThrottledLoginMixin, AuthenticationForm):
    """Only staff may sign in: the whole interface is for staff."""

    def confirm_login_allowed(self, user):
        super().confirm_login_allowed(user)
        if not user.is_staff:
            raise forms.ValidationError(
                "This account is not a staff account. Ask an administrator for access.",
                code="not_staff",
            )


class AdminLoginForm(ThrottledLoginMixin, AdminAuthenticationForm):
    """The admin's own login form, with the same lockout message."""
