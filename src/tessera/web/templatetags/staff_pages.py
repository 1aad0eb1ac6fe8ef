from django import template

from tessera.web.staff.common import status_shown

register = template.Library()


@register.filter
def status_label(status: str) -> str:
    return status_shown(status)[0]


@register.filter
def status_class(status: str) -> str:
    return status_shown(status)[1]
