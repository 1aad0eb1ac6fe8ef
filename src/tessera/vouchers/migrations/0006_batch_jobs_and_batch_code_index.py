"""Background batch jobs; codes indexed by (batch_id, code) in place of batch_id alone (the
composite serves every lookup by batch and the batch page's paging and search).

First, 0005's index of used codes enters Django's model state (the database has it already):
on SQLite, dropping the batch_id index rebuilds the table, and a rebuild re-creates only the
indexes the state knows."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("vouchers", "0005_used_codes_index"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AddIndex(
                    model_name="code",
                    index=models.Index(
                        condition=models.Q(("uses__gt", 0)),
                        fields=["batch", "code"],
                        name="vouchers_code_used_by_batch",
                    ),
                ),
            ],
        ),
        migrations.CreateModel(
            name="BatchJob",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("count", models.PositiveIntegerField()),
                ("fields", models.JSONField(default=dict)),
                ("note", models.TextField(blank=True)),
                (
                    "status",
                    models.CharField(
                        choices=[("queued", "Queued"), ("running", "Running"), ("done", "Done"), ("failed", "Failed")],
                        default="queued",
                        max_length=8,
                    ),
                ),
                ("written", models.PositiveIntegerField(default=0, help_text="Codes written so far.")),
                ("error", models.TextField(blank=True)),
                ("created_by", models.CharField(blank=True, max_length=150)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("started_at", models.DateTimeField(blank=True, null=True)),
                ("updated_at", models.DateTimeField(blank=True, null=True)),
                ("finished_at", models.DateTimeField(blank=True, null=True)),
            ],
            options={
                "ordering": ["-created_at", "-pk"],
            },
        ),
        migrations.AddIndex(
            model_name="code",
            index=models.Index(fields=["batch", "code"], name="vouchers_code_batch_code"),
        ),
        migrations.AlterField(
            model_name="code",
            name="batch",
            field=models.ForeignKey(
                db_constraint=False,
                db_index=False,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="codes",
                to="vouchers.batch",
            ),
        ),
        migrations.AddField(
            model_name="batchjob",
            name="batch",
            field=models.OneToOneField(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="vouchers.batch",
            ),
        ),
        migrations.AddField(
            model_name="batchjob",
            name="offer",
            field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name="+", to="vouchers.offer"),
        ),
        migrations.AddField(
            model_name="batchjob",
            name="restricted_to",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
    ]
