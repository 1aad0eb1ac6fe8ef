"""Staff self-service pages: offers, codes, batches, queries and statistics (docs/staff-guide.md).

Each module holds the views of one area and its own `urlpatterns`; `tessera.web.staff.urls`
joins them under /staff/. Every view is wrapped in `staff_only`.
"""
