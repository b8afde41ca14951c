from django.contrib.auth.middleware import LoginRequiredMiddleware
from django_htmx.http import HttpResponseClientRedirect


class StaffRequiredMiddleware(LoginRequiredMiddleware):
    """Every view needs a logged-in staff user unless it is marked `@login_not_required`."""

    def process_view(self, request, view_func, view_args, view_kwargs):
        if not getattr(view_func, "login_required", True):
            return None
        if request.user.is_authenticated and request.user.is_staff:
            return None
        response = self.handle_no_permission(request, view_func)
        # htmx would swap the login page into a fragment; send the whole tab there instead.
        if request.htmx:
            return HttpResponseClientRedirect(response.url)
        return response
