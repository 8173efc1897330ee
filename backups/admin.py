"""Backups in the admin: the catalogue (read-only), verification state, "back up now" and "verify" actions."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db import transaction
from django.http import HttpResponseNotAllowed, HttpResponseRedirect
from django.urls import path, reverse
from django.utils.html import format_html

from backups.models import BackupRecord
from backups.tasks import run, verify


@admin.register(BackupRecord)
class BackupRecordAdmin(admin.ModelAdmin):
    list_display = ("id", "kind", "status", "started_at", "finished_at", "size_bytes", "verification", "storage", "short_error")
    list_filter = ("status", "kind", "storage")
    ordering = ("-started_at", "-id")
    actions = ("verify_selected",)
    change_list_template = "admin/backups/backuprecord/change_list.html"  # adds the "Back up now" button
    readonly_fields = [field.name for field in BackupRecord._meta.fields]

    @admin.display(description="verified")
    def verification(self, record: BackupRecord) -> str:
        if record.verify_error:
            return format_html('<span style="color:#ba2121">failed: {}</span>', record.verify_error[:120])
        if record.verified_at:
            return f"{record.verified_at:%Y-%m-%d %H:%M} UTC"
        return "not yet"

    @admin.display(description="error")
    def short_error(self, record: BackupRecord) -> str:
        return record.error[:120]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # files go through retention (backups.prune), never by hand here

    def has_run_backup_permission(self, request) -> bool:
        return request.user.has_perm("backups.run_backup")

    @admin.action(description="Verify the selected backups (restore into a scratch database)", permissions=["run_backup"])
    def verify_selected(self, request, queryset):
        ids = list(queryset.filter(status=BackupRecord.Status.SUCCEEDED).values_list("pk", flat=True))
        for record_id in ids:
            transaction.on_commit(lambda record_id=record_id: verify.delay(record_id))
        self.message_user(request, f"verification queued for {len(ids)} backup(s)", messages.SUCCESS)

    def changelist_view(self, request, extra_context=None):
        extra_context = {**(extra_context or {}), "can_run_backup": self.has_run_backup_permission(request)}
        return super().changelist_view(request, extra_context=extra_context)

    def get_urls(self):
        extra = [path("backup-now/", self.admin_site.admin_view(self.backup_now_view), name="backups_backup_now")]
        return extra + super().get_urls()

    def backup_now_view(self, request):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not self.has_run_backup_permission(request):
            self.message_user(request, "you may not start backups", messages.ERROR)
        else:
            transaction.on_commit(lambda: run.delay(kind=BackupRecord.Kind.MANUAL))
            self.message_user(request, "backup queued on the backups queue; it appears here when it starts",
                              messages.SUCCESS)
        return HttpResponseRedirect(reverse("admin:backups_backuprecord_changelist"))
