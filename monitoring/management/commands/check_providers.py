"""`manage.py check_providers`: call each configured provider once and print one line each: who answered, how fast.

    bags         ok       41 ms  quote 0.001 SOL -> 6,512,339 base units of EPjF…
    jupiter      ok       38 ms  quote 0.001 SOL -> 6,498,771 base units of EPjF…
    jupiter      ok       12 ms  price of SOL: $151.23
    dexscreener  skipped         DEXSCREENER_API_URL is not set
    solana_rpc   ok        3 ms  getHealth: ok (block height 312,445,001)
    telegram     ok        9 ms  getMe: @jarvis_desk_bot

Each call goes through the desk's own client (its keys, timeouts, rate limits and budget counting), so a line that
says ok is what the desk will see. Exits with status 1 when any configured provider failed. The quote buys ``--mint``
(USDC by default) for ``--lamports`` (0.001 SOL); against the sandbox pass one of its mints.
"""

from __future__ import annotations

import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

USDC_MINT = "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v"


def _short(mint: str) -> str:
    return mint[:4] + "…"


class Command(BaseCommand):
    help = "Call each configured provider once (a small quote, the price of SOL, getHealth, getMe); one line each."

    def add_arguments(self, parser):
        parser.add_argument("--mint", default=USDC_MINT, help="the token the test quote buys (default USDC)")
        parser.add_argument("--lamports", type=int, default=1_000_000, help="the test quote's amount (default 0.001 SOL)")

    def handle(self, *args, mint: str, lamports: int, **options):
        from trading.chain import SolanaRpc
        from trading.execution.clients import venues_in_order
        from trading.models.choices import SOL_MINT
        from trading.prices import fetch_dexscreener, sol_usd_price

        failed = []

        def line(name: str, call) -> None:
            started = time.perf_counter()
            try:
                detail = call()
            except Exception as exc:  # every failure is one line, never a traceback: the operator reads which and why
                ms = (time.perf_counter() - started) * 1000
                message = getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}"
                self.stdout.write(f"{name:<12} FAILED {ms:7.0f} ms  {message}"[:300])
                failed.append(name)
                return
            ms = (time.perf_counter() - started) * 1000
            self.stdout.write(f"{name:<12} ok     {ms:7.0f} ms  {detail}")

        def skipped(name: str, why: str) -> None:
            self.stdout.write(f"{name:<12} skipped            {why}")

        for venue in venues_in_order():
            def quote(venue=venue):
                q = venue.quote(input_mint=SOL_MINT, output_mint=mint, amount=lamports, slippage_bps=100)
                return f"quote {lamports / 1e9:g} SOL -> {q.out_amount:,} base units of {_short(mint)}"

            line(venue.name, quote)

        def sol_price():
            usd = sol_usd_price()
            if usd is None:
                raise ValueError("Jupiter answered without a price for SOL")
            return f"price of SOL: ${usd:,.2f}"

        line("jupiter", sol_price)
        if settings.DEXSCREENER_API_URL:
            import httpx

            def dexscreener():
                with httpx.Client(timeout=5.0) as client:
                    found = fetch_dexscreener(client, [mint])
                return f"price of {_short(mint)}: {found[mint].price} SOL" if mint in found else f"no SOL pair for {_short(mint)}"

            line("dexscreener", dexscreener)
        else:
            skipped("dexscreener", "DEXSCREENER_API_URL is not set")

        def health():
            with SolanaRpc(settings.SOLANA_RPC_URL, timeout=settings.SOLANA_RPC_TIMEOUT_SECONDS, retries=1) as rpc:
                answer = rpc.call("getHealth")
                return f"getHealth: {answer} (block height {rpc.block_height():,})"

        if settings.SOLANA_RPC_URL:
            line("solana_rpc", health)
        else:
            skipped("solana_rpc", "SOLANA_RPC_URL is not set")

        def get_me():
            from telegram_app import botapi

            me = botapi.call("getMe", {})
            return f"getMe: @{me.get('username')}"

        line("telegram", get_me)
        if failed:
            raise CommandError(f"{len(failed)} provider call(s) failed: {', '.join(failed)}")
