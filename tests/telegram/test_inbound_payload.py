"""Webhook updates are stored before the 200, and their payload is dropped once processed."""

import pytest

from telegram_app.models import InboundUpdate
from telegram_app.services import inbound_done, inbound_next, webhook_update_store

SECRET_LOOKING = "4" * 88


@pytest.mark.django_db
def test_a_processed_update_keeps_no_payload_but_still_dedupes(clean_redis):
    payload = {"update_id": 9001, "message": {"text": SECRET_LOOKING, "chat": {"id": 5, "type": "private"}}}
    assert webhook_update_store(payload=payload) is True
    assert [u.update_id for u in inbound_next()] == [9001]

    inbound_done(update_id=9001)

    row = InboundUpdate.objects.get(update_id=9001)
    assert row.processed_at is not None
    assert SECRET_LOOKING not in str(row.payload)
    assert inbound_next() == []
    assert webhook_update_store(payload=payload) is False  # a Telegram retry of the same update is dropped
