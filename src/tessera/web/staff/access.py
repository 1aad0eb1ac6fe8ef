"""Who gets into the staff pages: users with the manage_vouchers permission (or superusers).

Signed-out visitors are sent to log in and back; anyone else signed in gets 403. With vouchers
off, /staff/ answers 404 before this runs (VoucherSurfaceMiddleware).
"""

from collections.abc import Callable
from functools import partial, wraps
from typing import Concatenate, ParamSpec

from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest
from django.http.response import HttpResponseBase
from django.shortcuts import render

from tessera.core.errors import Forbidden
from tessera.vouchers.permissions import MANAGE_VOUCHERS
from tessera.web.errors import page_refusal

Params = ParamSpec("Params")
View = Callable[Concatenate[HttpRequest, Params], HttpResponseBase]


def may_manage_vouchers(user: object) -> bool:
    has_perm = getattr(user, "has_perm", None)
    return bool(getattr(user, "is_authenticated", False) and has_perm and has_perm(MANAGE_VOUCHERS))


def staff_only(view: View[Params]) -> View[Params]:
    @wraps(view)
    def guarded(request: HttpRequest, *args: Params.args, **kwargs: Params.kwargs) -> HttpResponseBase:
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if not may_manage_vouchers(request.user):
            return page_refusal(Forbidden(), partial(render, request, "web/staff/forbidden.html"))
        return view(request, *args, **kwargs)

    return guarded
