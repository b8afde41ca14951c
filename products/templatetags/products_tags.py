from django import template
from django.http import QueryDict

register = template.Library()


@register.filter
def with_page(query: QueryDict, number: int) -> str:
    """The list's query string (its filters and order) pointing at another page."""
    query = query.copy()
    query["page"] = number
    return query.urlencode()


@register.filter
def with_sort(query: QueryDict, field: str) -> str:
    """The list's query string sorted by `field`, from its first page; descending if it already is ascending."""
    query = query.copy()
    query.pop("page", None)
    query["sort"] = f"-{field}" if query.get("sort") == field else field
    return query.urlencode()
