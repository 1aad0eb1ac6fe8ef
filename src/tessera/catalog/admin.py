from django.contrib import admin

from tessera.catalog.models import Assessment, AssessmentEntitlement, Course, CourseSession, Enrollment, Exam


class SessionInline(admin.TabularInline):
    model = CourseSession
    extra = 0
    fields = ("slug", "title", "state", "starts_at", "ends_at", "capacity")
    show_change_link = True


class ExamInline(admin.TabularInline):
    model = Exam
    extra = 0


@admin.register(Course)
class CourseAdmin(admin.ModelAdmin):
    list_display = ("title", "slug")
    search_fields = ("title", "slug")
    prepopulated_fields = {"slug": ("title",)}
    inlines = [SessionInline]


@admin.register(CourseSession)
class CourseSessionAdmin(admin.ModelAdmin):
    list_display = ("__str__", "slug", "state", "starts_at", "ends_at", "capacity", "reactivation_enabled",
                    "offers_proctored_certificate")  # fmt: skip
    list_filter = ("state", "reactivation_enabled", "offers_proctored_certificate")
    search_fields = ("slug", "title", "course__title")
    list_select_related = ("course",)
    inlines = [ExamInline]


@admin.register(Exam)
class ExamAdmin(admin.ModelAdmin):
    list_display = ("title", "session", "submission_deadline", "proctored", "graded")
    list_filter = ("proctored", "graded")
    list_select_related = ("session__course",)


@admin.register(Enrollment)
class EnrollmentAdmin(admin.ModelAdmin):
    list_display = ("user", "session", "active", "proctored", "reactivated_until", "created_at")
    list_filter = ("active", "proctored")
    search_fields = ("user__username", "session__slug")
    list_select_related = ("user", "session__course")
    raw_id_fields = ("user",)


@admin.register(Assessment)
class AssessmentAdmin(admin.ModelAdmin):
    list_display = ("title", "slug", "course", "opens_at", "closes_at", "attempts", "active")
    list_filter = ("active",)
    search_fields = ("slug", "title", "course__title")
    list_select_related = ("course",)
    prepopulated_fields = {"slug": ("title",)}


@admin.register(AssessmentEntitlement)
class AssessmentEntitlementAdmin(admin.ModelAdmin):
    list_display = ("user", "assessment", "attempts", "active", "created_at")
    list_filter = ("active",)
    search_fields = ("user__username", "assessment__slug")
    list_select_related = ("user", "assessment")
    raw_id_fields = ("user",)
