from django.db import migrations


def mark_platform_sessions(apps, schema_editor):  # type: ignore[no-untyped-def]
    """Sessions that platforms created before CourseSession.source existed are theirs too."""
    CourseSession = apps.get_model("catalog", "CourseSession")
    PlatformSession = apps.get_model("platforms", "PlatformSession")
    CourseSession.objects.filter(pk__in=PlatformSession.objects.values("session_id")).update(source="platform")


class Migration(migrations.Migration):
    dependencies = [
        ("catalog", "0002_session_source"),
        ("platforms", "0002_webhook_delivery"),
    ]

    operations = [
        migrations.RunPython(mark_platform_sessions, migrations.RunPython.noop),
    ]
