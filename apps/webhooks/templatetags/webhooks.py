from django import template

from ..services import webhook_secret_get_or_create

register = template.Library()


@register.simple_tag
def webhook_secret(user) -> str:
    """The user's webhook signing secret (made on first view), for the account settings page."""
    return webhook_secret_get_or_create(user=user).key
