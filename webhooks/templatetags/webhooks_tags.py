import json

from django import template

register = template.Library()


@register.filter
def pretty_json(text: str) -> str:
    """JSON text indented for reading; anything else as it is (a receiver's plain-text answer)."""
    try:
        return json.dumps(json.loads(text), indent=2, ensure_ascii=False)
    except (TypeError, ValueError):
        return text
