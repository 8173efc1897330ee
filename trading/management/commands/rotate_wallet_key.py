"""Re-encrypt every wallet secret (and every 2FA secret) under the first key of WALLET_ENCRYPTION_KEYS, online, row by
row."""

from django.core.management.base import BaseCommand, CommandError

from trading.errors import WalletError
from trading.second_factor import second_factors_rotate_all
from trading.wallets import wallets_rotate_all


class Command(BaseCommand):
    help = (
        "Re-encrypt every wallet under the first key of WALLET_ENCRYPTION_KEYS. Put the new key first and keep the old "
        "ones listed while this runs; safe to run again (each row is swapped only if unchanged since it was read)."
    )

    def handle(self, *args, **options):
        try:
            result = wallets_rotate_all()
            factors = second_factors_rotate_all()
        except WalletError as exc:
            raise CommandError(exc.message) from None
        self.stdout.write(
            f"wallets under key {result['key_id']}: {result['rotated']} re-encrypted, "
            f"{result['skipped']} skipped, {result['remaining']} still under other keys"
        )
        self.stdout.write(
            f"2FA secrets under key {factors['key_id']}: {factors['rotated']} re-encrypted, "
            f"{factors['skipped']} skipped, {factors['remaining']} still under other keys"
        )
        if result["remaining"] or factors["remaining"]:
            raise CommandError("some wallets or 2FA secrets are still under old keys; run the command again")
