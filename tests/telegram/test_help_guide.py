"""/help points at the trader's guide, and the guide is there."""

from __future__ import annotations

from pathlib import Path

import pytest

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("quick_chats")]  # many screens, one chat
ROOT = Path(__file__).resolve().parents[2]


def test_help_names_the_traders_guide_and_the_guide_exists(tg_user):
    help_text = tg_user(2401).send("/help")["text"]
    assert "docs/traders.md" in help_text and "/2fa" in help_text
    guide = (ROOT / "docs" / "traders.md").read_text()
    for section in ("## Paper and live", "## Wallets", "second factor (2FA)", "## Withdrawals", "## Fees",
                    "## Exit plans", "## Positions and PnL", "## FAQ"):
        assert section in guide, section
