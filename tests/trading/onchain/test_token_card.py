"""The token safety card through the bot, on the sandbox chain: a clean token's card, each risky sandbox token warned
(a second, explicit button) or refused as the trader's setting says, and Jupiter's warnings where a key is set."""

from __future__ import annotations

import time
from decimal import Decimal

import pytest
from solders.keypair import Keypair

from telegram_app.bot.core import callback_key
from telegram_app.callbacks import cb_sign
from tests.conftest import wait_for
from trading.models import Position, PositionStatus, Trader, TradingSettings
from trading.prices import prices_refresh
from trading.safety import CACHE_PREFIX

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("quick_chats")]  # many screens, one chat

FUNDING = 5 * 10**9


@pytest.fixture
def trader_bot(sandbox, sandbox_settings, tg_user, clean_redis):
    """A Telegram user whose trader trades in sandbox mode from a wallet funded on the sandbox chain."""
    from trading.wallets import wallet_import

    sandbox_settings.TRADING_MODE = "sandbox"
    sandbox_settings.VENUE_TIMEOUT_SECONDS = 2
    sandbox_settings.EXECUTION_RESEND_SECONDS = 0.3

    def make(user_id: int, *, risky_tokens: str | None = None):
        user = tg_user(user_id)
        user.send("/start")
        trader = Trader.objects.get(telegram_account__telegram_user_id=user_id)
        changes = {"mode": "sandbox", **({"risky_tokens": risky_tokens} if risky_tokens else {})}
        TradingSettings.objects.filter(trader=trader).update(**changes)
        keypair = Keypair()
        sandbox.chain.airdrop(keypair.pubkey(), FUNDING)
        wallet_import(trader=trader, secret=str(keypair))
        user.trader, user.owner = trader, str(keypair.pubkey())
        return user

    return make


def _mint(sandbox, symbol: str) -> str:
    return sandbox.market.by_symbol(symbol).mint


def _card(user, mint: str) -> dict:
    """The card the bot answers a pasted mint with (a fill notification of an earlier buy may arrive around it)."""
    before = len(user.standin.bot_messages(user.chat_id))
    user.send(mint)
    return wait_for(lambda: next((m for m in user.standin.bot_messages(user.chat_id)[before:]
                                  if mint in (m.get("text") or "")), None), message="the token card")


def _preview(user, mint: str) -> dict:
    card = _card(user, mint)
    assert "Choose how much SOL" in card["text"], card["text"]
    return user.press("0.1 SOL", message_id=card["message_id"])["message"]


def _labels(message) -> list[str]:
    return [b["text"] for row in (message.get("reply_markup") or {}).get("inline_keyboard", []) for b in row]


def _landed(sandbox, user, mint: str) -> Position:
    position = wait_for(lambda: Position.objects.filter(trader=user.trader, token__mint=mint)
                        .exclude(status=PositionStatus.OPENING).first(), timeout=40, message="the buy to land")
    assert position.status == PositionStatus.OPEN
    assert position.size == sandbox.chain.token_balance(user.owner, mint) > 0  # read back from the chain
    return position


def test_the_card_of_a_clean_token_shows_every_line(sandbox, trader_bot):
    alice = trader_bot(401)
    mint = _mint(sandbox, "JRVS")
    card = _card(alice, mint)["text"]
    assert card.startswith(f"Jarvis Coin (JRVS)  {mint}")  # from the Metaplex metadata account
    usd = sandbox.market.usd_price(mint)
    assert usd == Decimal("0.0675") and "Price: 0.00045 SOL ($0.0675)" in card  # SOL and USD
    assert "Liquidity: $600.00K" in card  # Jupiter's liquidity figure: 2,000 SOL a side at $150
    supply = 10**12 * 10**6
    largest = sorted((amount for amount in _holdings(sandbox, mint)), reverse=True)[:10]
    assert f"Top 10 holders: {sum(largest) * 100 / supply:.1f}%" in card and "Top 10 holders: 52.0%" in card
    assert f"Market cap: ${usd * 10**12 / 10**9:.2f}B" in card
    assert "Mint authority: none  Freeze authority: none" in card and "Program: SPL Token" in card
    assert "Sellable: yes" in card and "✅ No critical risk found." in card and "⛔" not in card
    assert "Jupiter: This token is not verified" in card  # the sandbox key is set


def _holdings(sandbox, mint: str) -> list[int]:
    import httpx

    answer = httpx.post(sandbox.rpc_url, json={"jsonrpc": "2.0", "id": 1, "method": "getTokenLargestAccounts",
                                               "params": [mint]}).json()
    return [int(row["amount"]) for row in answer["result"]["value"]]


def test_each_risky_token_asks_for_a_second_button_and_lands_once_accepted(sandbox, trader_bot, celery_worker):
    bob = trader_bot(402, risky_tokens="confirm")
    expected = {"FRZR": "Freeze authority is set", "DLGT": "Permanent delegate is set", "HNYP": "cannot be sold"}
    for symbol, sentence in expected.items():
        mint = _mint(sandbox, symbol)
        preview = _preview(bob, mint)
        assert sentence in preview["text"] and "Critical risks:" in preview["text"], preview["text"]
        assert _labels(preview) == ["⚠️ Accept the risks and buy", "Cancel"]  # no plain confirm
        placed = bob.press("Accept the risks and buy", message_id=preview["message_id"])["message"]
        assert "Buy order placed" in placed["text"], placed["text"]
        position = _landed(sandbox, bob, mint)
        assert position.token.symbol == symbol  # named from the metadata the card read
    card = _card(bob, _mint(sandbox, "DLGT"))["text"]
    assert "Program: Token-2022" in card and "Mint authority: none" in card

    # the fee token and the concentrated one are warnings, not critical: the plain confirm
    taxx = _preview(bob, _mint(sandbox, "TAXX"))
    assert "Transfer fee 10% on every transfer, and can be changed." in taxx["text"]
    assert _labels(taxx)[0] == "✅ Confirm buy"
    whal = _preview(bob, _mint(sandbox, "WHAL"))
    assert "The top 10 holders own 100% of the supply." in whal["text"] and _labels(whal)[0] == "✅ Confirm buy"


def test_a_plain_confirm_for_a_critical_token_is_refused_and_writes_nothing(sandbox, trader_bot):
    carol = trader_bot(403, risky_tokens="confirm")
    mint = _mint(sandbox, "DLGT")
    _preview(carol, mint)
    message_id = carol.last_with_buttons()["message_id"]
    from telegram_app import services

    ref = services.mint_ref(mint=mint)
    forged = cb_sign(key=callback_key(), user_id=carol.user_id, action="bc", args=(ref, 100_000_000), now=time.time())
    refused = carol.press("", data=forged, message_id=message_id)
    assert "accept them explicitly" in str(refused), refused
    narrower = cb_sign(key=callback_key(), user_id=carol.user_id, action="ba", args=(ref, 100_000_000, 1),
                       now=time.time())  # accepts the freeze authority only, not the permanent delegate
    assert "accept them explicitly" in str(carol.press("", data=narrower, message_id=message_id))
    assert not Position.objects.filter(trader=carol.trader).exists()


def test_a_freeze_authority_is_refused_by_default(sandbox, trader_bot):
    dave = trader_bot(404)
    frozen = _preview(dave, _mint(sandbox, "FRZR"))
    assert "Cannot buy now: This token is refused by your safety setting: a freeze authority" in frozen["text"]
    assert "Confirm" not in str(_labels(frozen)) and "Accept" not in str(_labels(frozen))
    delegate = _preview(dave, _mint(sandbox, "DLGT"))  # the other critical findings still ask
    assert _labels(delegate)[0] == "⚠️ Accept the risks and buy"
    assert not Position.objects.filter(trader=dave.trader).exists()


def test_the_refuse_setting_refuses_every_critical_token(sandbox, trader_bot):
    erin = trader_bot(405)
    erin.send("/settings")
    changed = erin.press("refuse all")["message"]
    assert "Risky tokens: refuse every critical risk" in changed["text"]
    for symbol in ("FRZR", "DLGT", "HNYP"):
        preview = _preview(erin, _mint(sandbox, symbol))
        assert "Cannot buy now: This token is refused by your safety setting" in preview["text"], preview["text"]
        assert not any("Confirm" in label or "Accept" in label for label in _labels(preview))
    assert _labels(_preview(erin, _mint(sandbox, "TAXX")))[0] == "✅ Confirm buy"  # no critical finding
    assert not Position.objects.filter(trader=erin.trader).exists()


def test_jupiter_warnings_show_only_where_a_key_is_set(sandbox, sandbox_settings, trader_bot, clean_redis):
    frank = trader_bot(406, risky_tokens="confirm")
    mint = _mint(sandbox, "HNYP")
    with_key = _card(frank, mint)["text"]
    assert "Jupiter: This token is not verified" in with_key and "This token cannot be sold at the moment (critical)" \
        in with_key

    prices_refresh(mints=[mint])  # the price stays cached; the Jupiter key goes
    clean_redis.delete(*clean_redis.keys(CACHE_PREFIX + "*"))
    sandbox_settings.JUPITER_API_KEY = None
    without_key = _card(frank, mint)["text"]
    assert "Jupiter:" not in without_key
    # without the key Jupiter cannot quote either, so a sell route is unknown: not called safe
    assert "Sellable: unknown" in without_key and "No critical risk found" not in without_key


def test_token_2022_extensions_made_by_the_program_are_read_from_the_mint(sandbox, sandbox_settings, clean_redis):
    """A mint made on the sandbox chain by Token-2022 itself with NonTransferable, DefaultAccountState (frozen) and
    TransferHook (instruction numbers from spl-token-2022's TokenInstruction), read back by the card's look-up."""
    from solders.instruction import AccountMeta, Instruction
    from solders.message import MessageV0
    from solders.pubkey import Pubkey
    from solders.system_program import CreateAccountParams, create_account
    from solders.transaction import VersionedTransaction
    from solders.transaction_metadata import FailedTransactionMetadata
    from spl.token.instructions import initialize_mint2
    from spl.token.instructions import models as token_models

    from trading.safety import token_safety

    program = Pubkey.from_string("TokenzQdBNbLqP5VEhdkAS6EPFLC1PHnBqCXEpPxuEb")
    payer, mint_key, hook = Keypair(), Keypair(), Keypair().pubkey()
    sandbox.chain.airdrop(payer.pubkey(), 10**9)
    mint, size = mint_key.pubkey(), 166 + 4 + 5 + 68

    def ext(data: bytes) -> Instruction:
        return Instruction(program, data, [AccountMeta(mint, is_signer=False, is_writable=True)])

    ixs = [
        create_account(CreateAccountParams(from_pubkey=payer.pubkey(), to_pubkey=mint, space=size, owner=program,
                                           lamports=sandbox.chain.svm.minimum_balance_for_rent_exemption(size))),
        ext(bytes([32])),  # InitializeNonTransferableMint
        ext(bytes([28, 0, 2])),  # DefaultAccountStateExtension::Initialize(Frozen)
        ext(bytes([36, 0]) + bytes(payer.pubkey()) + bytes(hook)),  # TransferHookExtension::Initialize
        initialize_mint2(token_models.InitializeMint2Params(program_id=program, mint=mint, decimals=6,
                                                            mint_authority=payer.pubkey(),
                                                            freeze_authority=payer.pubkey())),
    ]
    with sandbox.chain.lock:
        tx = VersionedTransaction(MessageV0.try_compile(payer.pubkey(), ixs, [], sandbox.chain.svm.latest_blockhash()),
                                  [payer, mint_key])
        result = sandbox.chain.svm.send_transaction(tx)
    assert not isinstance(result, FailedTransactionMetadata), result

    safety = token_safety(mint=str(mint))
    facts = safety.facts
    assert (facts.non_transferable, facts.default_frozen, facts.transfer_hook_program) == (True, True, str(hook))
    assert facts.freeze_authority == facts.mint_authority == str(payer.pubkey()) and facts.permanent_delegate is None
    assert safety.critical == ("freeze_authority", "non_transferable")
    assert {f.code for f in safety.findings} >= {"default_frozen", "transfer_hook", "mint_authority"}


def test_a_provider_down_leaves_its_lines_unchecked_never_called_safe(sandbox, trader_bot, clean_redis):
    gina = trader_bot(407)
    mint = _mint(sandbox, "MOON")
    prices_refresh(mints=[mint])
    sandbox.faults.set("rpc", "http_5xx", methods=["getMultipleAccounts", "getTokenLargestAccounts"])
    card = _card(gina, mint)["text"]
    assert "Not checked just now: mint account, holders" in card and "Top 10 holders: unknown" in card
    assert "No critical risk found" not in card and "Choose how much SOL" in card  # the card still shows
    assert clean_redis.get(f"{CACHE_PREFIX}mint:{mint}") == b"failed"  # not asked again on the next paste at once
