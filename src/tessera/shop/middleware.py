"""Bridge paths as Rails routes them, so a shop that calls Xikolo's `/bridges/shop/vouchers.json`
or `/bridges/shop/vouchers/` reaches the same route as `/bridges/shop/vouchers`."""

import re
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

BRIDGE = "/bridges/shop/"
# Rails squeezes repeated slashes and drops trailing ones before routing; every Rails route takes an
# optional format suffix, and the bridge's only format is JSON.
REPEATED_SLASHES = re.compile(r"/{2,}")
FORMAT_SUFFIX = ".json"


def rails_route_path(path: str) -> str:
    """The path a Rails router would match: `/bridges/shop//vouchers.json/` is `/bridges/shop/vouchers`."""
    path = REPEATED_SLASHES.sub("/", path).rstrip("/") or "/"
    return path.removesuffix(FORMAT_SUFFIX)


class BridgePathMiddleware:
    """Routes bridge requests by the path Rails would match. Only the route changes: request.path
    (and so the paging links) keeps the path the shop asked for."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if REPEATED_SLASHES.sub("/", request.path_info).startswith(BRIDGE):
            request.path_info = rails_route_path(request.path_info)
        return self.get_response(request)
