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


@pytest.mark.django_db
def test_a_waiting_update_is_stored_encrypted_and_read_back_whole(clean_redis, settings):
    """While the bot is down a stored update may hold a pasted key: the row (and so a backup) holds only ciphertext."""
    payload = {"update_id": 9002, "message": {"text": SECRET_LOOKING, "chat": {"id": 5, "type": "private"}}}
    assert webhook_update_store(payload=payload) is True
    stored = InboundUpdate.objects.get(update_id=9002).payload
    assert SECRET_LOOKING not in str(stored) and set(stored) == {"sealed"}
    assert [u.payload for u in inbound_next()] == [payload]

    settings.SECRET_KEY = "another-secret-key-after-a-rotation-0123456789"  # cannot be read any more: dropped, once
    assert inbound_next() == []
    assert InboundUpdate.objects.get(update_id=9002).processed_at is not None
