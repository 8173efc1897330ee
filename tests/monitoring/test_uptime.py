from datetime import timedelta

import pytest
from django.utils import timezone

from monitoring.models import UptimeMinute
from monitoring.selectors import uptime_percentages
from monitoring.services import heartbeat_record
from monitoring.uptime import uptime_prune, uptime_record


@pytest.mark.django_db
def test_uptime_is_recorded_once_per_component_and_minute(readiness_settings, clean_redis):
    readiness_settings.MONITORING_READINESS_SKIP = ["bot", "price_feed", "workers", "queue:trades", "queue:tpsl",
                                                    "queue:telegram", "queue:backups", "queue:default", "mode",
                                                    "queue:vibe"]
    heartbeat_record(component="beat")
    now = timezone.now()
    assert uptime_record(now=now) == 3
    uptime_record(now=now + timedelta(seconds=1))  # same minute: nothing new
    rows = dict(UptimeMinute.objects.values_list("component", "up"))
    assert rows == {"postgres": True, "redis": True, "beat": True}


@pytest.mark.django_db
def test_uptime_percentages_count_missing_minutes_as_down():
    now = timezone.now().replace(second=0, microsecond=0)
    # bot: the last 100 minutes recorded, 75 up; 20 minutes missing before that (no, counted from its first row)
    rows = [UptimeMinute(component="bot", minute=now - timedelta(minutes=i), up=i >= 25) for i in range(100)]
    # beat: first seen 2 days ago, then nothing until the last 60 minutes (all up)
    rows.append(UptimeMinute(component="beat", minute=now - timedelta(days=2), up=True))
    rows += [UptimeMinute(component="beat", minute=now - timedelta(minutes=i), up=True) for i in range(60)]
    UptimeMinute.objects.bulk_create(rows)
    result = uptime_percentages(now=now)
    assert result["bot"] == {"24h": 75.0, "7d": 75.0, "30d": 75.0}
    assert result["beat"]["24h"] == round(100 * 60 / 1440, 2)
    assert result["beat"]["7d"] == round(100 * 61 / (2 * 1440 + 1), 2)


@pytest.mark.django_db
def test_uptime_older_than_ninety_days_is_pruned(settings):
    now = timezone.now().replace(second=0, microsecond=0)
    UptimeMinute.objects.bulk_create([
        UptimeMinute(component="beat", minute=now - timedelta(days=91), up=True),
        UptimeMinute(component="beat", minute=now - timedelta(days=89), up=True),
    ])
    assert settings.MONITORING_UPTIME_KEEP_DAYS == 90
    assert uptime_prune(now=now) == 1
    assert list(UptimeMinute.objects.values_list("minute", flat=True)) == [now - timedelta(days=89)]
