"""`manage.py check_providers` against the stand-ins: one line per provider, what answered and how fast."""

from __future__ import annotations

import re
from io import StringIO

import pytest
from django.core.management import CommandError, call_command


def _lines(out: StringIO) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for line in out.getvalue().splitlines():
        found.setdefault(line.split()[0], []).append(line)
    return found


def test_every_configured_provider_answers_once_with_its_time(sandbox, sandbox_settings, telegram_settings, clean_redis):
    mint = sandbox.market.tokens()[0].mint
    out = StringIO()
    call_command("check_providers", "--mint", mint, stdout=out)
    lines = _lines(out)
    assert set(lines) == {"bags", "jupiter", "dexscreener", "solana_rpc", "telegram"}
    assert all(re.match(r"^\S+\s+ok\s+\d+ ms  ", line) for name in ("bags", "jupiter", "solana_rpc", "telegram")
               for line in lines[name])
    assert "quote 0.001 SOL ->" in lines["bags"][0] and "base units of" in lines["bags"][0]
    assert [("quote" in a, "price of SOL: $" in b) for a, b in [lines["jupiter"]]] == [(True, True)]
    assert "getHealth: ok" in lines["solana_rpc"][0]
    assert lines["telegram"][0].endswith("getMe: @jarvis_standin_bot")
    assert "skipped" in lines["dexscreener"][0]  # not configured outside live mode


def test_a_failing_provider_is_one_line_and_a_non_zero_exit(sandbox, sandbox_settings, telegram_settings, clean_redis):
    sandbox.faults.set("bags", "outage")
    out = StringIO()
    with pytest.raises(CommandError, match="1 provider call"):
        call_command("check_providers", "--mint", sandbox.market.tokens()[0].mint, stdout=out)
    lines = _lines(out)
    assert re.match(r"^bags\s+FAILED\s+\d+ ms  bags is failing \(HTTP 503\)", lines["bags"][0])
    assert "ok" in lines["jupiter"][0] and "ok" in lines["telegram"][0]


def test_a_paused_provider_says_so_without_being_asked(sandbox, sandbox_settings, telegram_settings, clean_redis):
    from trading.ratelimit import provider_pause

    provider_pause(account="bags", seconds=60)  # as after a 429 with Retry-After: 60
    out = StringIO()
    with pytest.raises(CommandError):
        call_command("check_providers", "--mint", sandbox.market.tokens()[0].mint, stdout=out)
    assert "bags is paused until the time it gave" in _lines(out)["bags"][0]
