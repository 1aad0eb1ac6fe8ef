from collections.abc import Callable

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse


class VoucherSurfaceMiddleware:
    """With vouchers off, every voucher surface answers as if it did not exist.

    One place for all surfaces (admin, API, pages) instead of a check in each view: the paths are
    listed in settings.TESSERA_VOUCHER_PATHS.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not settings.TESSERA_VOUCHERS_ENABLED and request.path.startswith(tuple(settings.TESSERA_VOUCHER_PATHS)):
            raise Http404("Vouchers are disabled.")
        return self.get_response(request)
