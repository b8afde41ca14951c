from django import template
from django.http import QueryDict

register = template.Library()


@register.filter
def with_page(query: QueryDict, number: int) -> str:
    """The list's query string (its filters) pointing at another page."""
    query = query.copy()
    query["page"] = number
    return query.urlencode()
