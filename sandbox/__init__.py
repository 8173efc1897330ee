"""The sandbox: a local Solana chain (LiteSVM), bags.fm and Jupiter stand-ins and a market simulator, over HTTP.

See docs/sandbox.md. `Sandbox(...).start()` serves everything from background threads; `manage.py sandbox` serves it on the
SANDBOX_* ports.
"""
