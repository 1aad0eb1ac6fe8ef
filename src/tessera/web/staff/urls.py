from django.urls import path
from django.views.generic import RedirectView

from tessera.web.staff import batches, codes, mailing, offers, stats

app_name = "staff"

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="staff:offers", permanent=False), name="home"),
    *offers.urlpatterns,
    *batches.urlpatterns,
    *codes.urlpatterns,
    *mailing.urlpatterns,
    *stats.urlpatterns,
]
