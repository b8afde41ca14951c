from django.contrib import messages
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST
from rest_framework.exceptions import NotFound
from rest_framework.views import APIView

from api import selectors, services
from api.forms import ApiTokenForm
from api.rest import StaffApiMixin


@require_http_methods(["GET", "POST"])
def tokens(request):
    """The signed-in staff member's API tokens; a new one's secret is in this response only."""
    form = ApiTokenForm(request.POST or None)
    context = {"form": form}
    status = 200
    if request.method == "POST":
        if form.is_valid():
            token, context["secret"] = services.api_token_create(user=request.user, name=form.cleaned_data["name"])
            context.update(created=token, form=ApiTokenForm())
        else:
            status = 422
    context["tokens"] = selectors.api_token_list(user=request.user)
    return render(request, "api/tokens.html", context, status=status)


@require_POST
def token_revoke(request):
    if services.api_token_revoke(user=request.user, digest=request.POST.get("digest", "")):
        messages.success(request, "Token revoked: it no longer works.")
    else:
        messages.error(request, "That token no longer exists.")
    return redirect("api_tokens")


class NotFoundView(StaffApiMixin, APIView):
    """Any other path under /api/: a JSON 404 (for staff; others get 401 first)."""

    schema = None

    def http_method_not_allowed(self, request, *args, **kwargs):
        raise NotFound()

    get = post = put = patch = delete = http_method_not_allowed
