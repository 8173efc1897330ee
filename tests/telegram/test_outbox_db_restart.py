"""A message whose database connection dies between the Bot API's answer and the SENT write (a Postgres restart)
is still recorded as sent, so the recovery sweep does not send it a second time."""

from __future__ import annotations

from datetime import timedelta

import psycopg2
import pytest
from django.db import connection

from telegram_app.models import OutboxMessage
from telegram_app.outbox import outbox_recover, outbox_send

pytestmark = pytest.mark.django_db(transaction=True)


def _terminate(pid: int) -> None:
    db = connection.settings_dict
    other = psycopg2.connect(dbname=db["NAME"], user=db["USER"], password=db["PASSWORD"] or None,
                             host=db["HOST"] or "127.0.0.1", port=db["PORT"] or 5432)
    other.autocommit = True
    with other.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s, 5000)", [pid])
    other.close()


def test_a_send_whose_connection_dies_before_the_sent_write_is_recorded_and_not_sent_again(telegram_settings, standin):
    standin.send_text(3100, "/start")
    # The row as outbox_enqueue writes it, without queueing its task: a session worker of the suite could take it.
    row = OutboxMessage.objects.create(chat_id=3100, text="Stop-loss filled", kind="exit.filled")
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    real_call = standin.call

    def call(method, params, **kwargs):
        answer = real_call(method, params, **kwargs)
        if method == "sendMessage" and params.get("text") == "Stop-loss filled":
            _terminate(pid)  # the database goes away while Telegram already has the message
        return answer

    standin.call = call
    try:
        assert outbox_send(outbox_id=row.pk).status == OutboxMessage.Status.SENT
    finally:
        standin.call = real_call
        connection.close()  # whatever happened, the next query (and the test's teardown) gets a live connection
    row.refresh_from_db()
    assert row.status == OutboxMessage.Status.SENT and row.telegram_message_id
    assert outbox_recover(older_than=timedelta(0), waiting_longer_than=timedelta(0)) == 0  # nothing for the sweep to send again
    assert [e["text"] for e in standin.log(3100, method="sendMessage")] == ["Stop-loss filled"]
