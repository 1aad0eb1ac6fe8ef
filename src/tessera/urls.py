from django.contrib import admin
from django.http import HttpRequest, JsonResponse
from django.urls import include, path
from django.views.generic import RedirectView

from tessera.api import api

# A database error that escapes a middleware still answers 503, not 500 (tessera.core.unavailable).
handler500 = "tessera.core.unavailable.server_error"


def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


urlpatterns = [
    path("", RedirectView.as_view(url="/courses", permanent=False)),
    path("healthz", healthz),
    path("admin/", admin.site.urls),
    path("staff/", include("tessera.web.staff.urls")),
    path("", include("tessera.web.urls")),
    path("", api.urls),
]
