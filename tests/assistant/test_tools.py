"""The desk tools and the proposals' decisions, without the bot: what the model may read, and what a press does."""

from __future__ import annotations

import time
import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from tests.assistant.conftest import ADMIN

pytestmark = pytest.mark.django_db


@pytest.fixture
def admins(settings):
    settings.TELEGRAM_ADMIN_IDS = [ADMIN]
    return settings


def test_log_search_reads_the_last_hour_and_needs_a_word(clean_redis):
    from assistant.tools import log_search
    from jarvis.logbuffer import log_line_append

    log_line_append(at=time.time() - 4000, level="WARNING", logger="old", message="rpc timeout long ago")
    log_line_append(at=time.time(), level="ERROR", logger="trading.chain", message="rpc timeout just now")
    log_line_append(at=time.time(), level="ERROR", logger="trading.chain", message="something else")
    assert [line["message"] for line in log_search("TIMEOUT")["lines"]] == ["rpc timeout just now"]
    assert "at least 3 characters" in log_search("a")["error"]


def test_tool_arguments_are_checked_against_the_schema():
    from assistant.tools import TOOLS, ToolInputError, tool_arguments

    assert tool_arguments(TOOLS["order_get"], {"order_id": 7}) == {"order_id": 7}
    for bad in ({"order_id": "7; drop"}, {"order_id": True}, {}, {"order_id": 7, "sql": "x"}, ["order_id"]):
        with pytest.raises(ToolInputError):
            tool_arguments(TOOLS["order_get"], bad)


def test_order_get_never_returns_the_signed_transaction(make_trader, make_token):
    from assistant.tools import order_get
    from trading.models import Order, Position

    position = Position.objects.create(trader=make_trader("t"), token=make_token("WIF"), mode="paper", status="open",
                                       size=10, original_size=10, cost_lamports=1000)
    order = Order.objects.create(position=position, side="buy", mode="paper", venue="paper", status="failed",
                                 amount_in=1000, client_id=uuid.uuid4(), signed_tx=b"\x01" * 64, error="slippage")
    found = order_get(order.pk)
    assert (found["id"], found["status"], found["error"]) == (order.pk, "failed", "slippage")
    assert "signed_tx" not in found and "client_id" not in found
    assert "no order" in order_get(order.pk + 1000)["error"]


def test_a_confirmed_pause_goes_through_the_trading_service_once(admins, make_trader):
    from assistant.models import Action
    from assistant.services import action_decide

    trader = make_trader("bob")
    action = Action.objects.create(admin_id=ADMIN, kind="trader_pause", arguments={"trader_id": trader.pk, "paused": True})
    done = action_decide(action_id=action.pk, admin_id=ADMIN, chat_id=ADMIN, confirm=True)
    trader.refresh_from_db()
    assert trader.is_paused and done.status == "done" and done.decided_by == ADMIN
    again = action_decide(action_id=action.pk, admin_id=ADMIN, chat_id=ADMIN, confirm=True)
    assert again.status == "done"  # no second run: the compare-and-swap found it decided


def test_a_refused_retry_expired_or_foreign_proposals_change_nothing(admins, make_trader):
    from assistant.models import Action
    from assistant.services import action_decide
    from telegram_app.models import OutboxMessage

    retry = Action.objects.create(admin_id=ADMIN, kind="order_retry", arguments={"order_id": 999999})
    assert action_decide(action_id=retry.pk, admin_id=ADMIN, chat_id=ADMIN, confirm=True).status == "failed"
    assert "There is no order with that number." in Action.objects.get(pk=retry.pk).result

    trader = make_trader("carol")
    old = Action.objects.create(admin_id=ADMIN, kind="trader_pause", arguments={"trader_id": trader.pk, "paused": True})
    Action.objects.filter(pk=old.pk).update(proposed_at=timezone.now() - timedelta(hours=1))
    assert action_decide(action_id=old.pk, admin_id=ADMIN, chat_id=ADMIN, confirm=True).status == "expired"
    other = Action.objects.create(admin_id=ADMIN + 1, kind="trader_pause", arguments={"trader_id": trader.pk})
    assert action_decide(action_id=other.pk, admin_id=ADMIN, chat_id=ADMIN, confirm=True) is None
    trader.refresh_from_db()
    assert not trader.is_paused and Action.objects.get(pk=other.pk).status == "proposed"
    assert OutboxMessage.objects.filter(chat_id=ADMIN, text__contains="not yours").exists()


def test_calls_and_actions_are_visible_in_the_admin_read_only(admin_client):
    from django.urls import reverse

    from assistant.models import Action, Conversation, ToolCall, Turn

    turn = Turn.objects.create(conversation=Conversation.objects.create(admin_id=ADMIN), admin_id=ADMIN, question="q?")
    ToolCall.objects.create(turn=turn, admin_id=ADMIN, tool="queue_depths")
    Action.objects.create(turn=turn, admin_id=ADMIN, kind="kill_switch", arguments={"enabled": True})
    calls = admin_client.get(reverse("admin:assistant_toolcall_changelist")).content.decode()
    assert "queue_depths" in calls and str(ADMIN) in calls
    actions = admin_client.get(reverse("admin:assistant_action_changelist")).content.decode()
    assert "kill_switch" in actions and "proposed" in actions
    for model in ("conversation", "turn", "toolcall", "action", "tokenusage"):
        assert admin_client.get(reverse(f"admin:assistant_{model}_changelist")).status_code == 200
        assert admin_client.get(reverse(f"admin:assistant_{model}_add")).status_code == 403


def test_the_desks_monthly_provider_budget_also_caps_vibe(vibe_settings, llm, clean_redis):
    from assistant.services import question_answer
    from monitoring.budgets import budget_cache_clear
    from monitoring.models import ProviderBudget

    ProviderBudget.objects.create(provider="llm", cost_per_call_micro_usd=10_000, monthly_budget_micro_usd=10_000)
    budget_cache_clear()
    try:
        first = question_answer(admin_id=ADMIN, chat_id=ADMIN, question="hello")
        second = question_answer(admin_id=ADMIN, chat_id=ADMIN, question="hello again")
    finally:
        budget_cache_clear()
    assert first.status == "answered"
    assert second.status == "refused" and "monthly budget for the assistant is used up" in second.answer
    assert len(llm.received) == 1


def test_every_read_tool_answers_in_json(clean_redis, make_trader, make_token):
    import json

    from assistant.tools import TOOLS
    from trading.models import Position

    trader = make_trader("dora")
    Position.objects.create(trader=trader, token=make_token("POPCAT"), mode="paper", status="open", size=10,
                            original_size=10, cost_lamports=1000, exit_stuck_at=timezone.now())
    arguments = {"order_get": {"order_id": 1}, "trader_get": {"trader_id": trader.pk}, "log_search": {"word": "error"},
                 "pnl_summary": {"trader_id": trader.pk}}
    for name, tool in TOOLS.items():
        if tool.proposal:
            continue
        result = json.loads(json.dumps(tool.run(**arguments.get(name, {})), default=str))
        assert isinstance(result, dict) and result, name
    assert TOOLS["positions_stuck"].run()["positions"][0]["token__symbol"] == "POPCAT"
    assert TOOLS["trader_get"].run(trader_id=trader.pk)["open_positions"] == 1
    assert set(TOOLS["queue_depths"].run()["queues"]) >= {"trades", "vibe"}


def test_the_log_buffer_never_raises_and_rests_after_redis_fails(settings, clean_redis):
    import logging

    from jarvis.logbuffer import RecentLogHandler, log_lines_search

    handler = RecentLogHandler()
    reachable = settings.REDIS_URL

    def record(text):
        return logging.LogRecord("trading.test", logging.WARNING, __file__, 1, text, (), None)

    handler.emit(record("kept line"))
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens there
    handler.emit(record("lost line"))  # no exception reaches the caller
    settings.REDIS_URL = reachable
    handler.emit(record("rested line"))  # within the rest after the failure: dropped, no wait
    assert [line["message"] for line in log_lines_search(word="line")] == ["kept line"]


def test_without_a_provider_key_vibe_says_so(vibe_settings, llm, clean_redis):
    from assistant.services import question_answer

    vibe_settings.VIBE_API_KEY = None
    turn = question_answer(admin_id=ADMIN, chat_id=ADMIN, question="hello")
    assert turn.status == "failed" and "not set up on this desk (VIBE_API_KEY is empty)" in turn.answer
    assert llm.received == []


def test_viewers_and_operators_see_vibes_records_and_change_none():
    import io

    from django.contrib.auth.models import Group
    from django.core.management import call_command

    call_command("setup_operator_groups", stdout=io.StringIO())
    for group in ("viewer", "operator"):
        codenames = set(Group.objects.get(name=group).permissions.filter(content_type__app_label="assistant")
                        .values_list("codename", flat=True))
        assert {"view_action", "view_toolcall", "view_turn"} <= codenames
        assert not {c for c in codenames if not c.startswith("view_")}
