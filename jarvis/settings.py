"""Django settings. Everything comes from the environment through jarvis.config (see docs/configuration.md)."""

from __future__ import annotations

import base64
import importlib.util

import os
from pathlib import Path

from jarvis.config import (
    ConfigError,
    database_from_url,
    dotenv_load,
    env_bool,
    env_choice,
    env_decimal,
    env_int,
    env_int_list,
    env_list,
    env_str,
    redis_url,
    sentinel_master,
)

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("JARVIS_VAR_DIR") or BASE_DIR / "var")

# A local .env (written by `make run` on first start) fills in what the real environment leaves unset.
DOTENV_FILE = dotenv_load(BASE_DIR)

VERSION = "0.1.0"

DEBUG = env_bool("DEBUG", False)
SECRET_KEY = env_str("SECRET_KEY", None)
if not SECRET_KEY:
    if not DEBUG:
        raise ConfigError("SECRET_KEY is required when DEBUG is off (make run writes one to .env)")
    SECRET_KEY = "insecure-debug-only-" + "x" * 40
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])
TIME_ZONE = "UTC"
USE_TZ = True
LANGUAGE_CODE = "en-us"
USE_I18N = False

# Deploy hardening; `manage.py check --deploy` passes with SECURE_SSL_REDIRECT and the cookie flags on.
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", False)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = SECURE_HSTS_SECONDS > 0
SECURE_HSTS_PRELOAD = SECURE_HSTS_SECONDS > 0
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if env_bool("BEHIND_TLS_PROXY", False) else None
SESSION_COOKIE_SECURE = env_bool("SECURE_COOKIES", False)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Health and metrics paths stay plain HTTP inside the cluster even with the TLS redirect on.
SECURE_REDIRECT_EXEMPT = [r"^api/v1/health/", r"^metrics$"]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_beat",
    "axes",
    "jarvis",
    "trading",
    "telegram_app",
    "monitoring",
    "backups",
    "assistant",
]
# The local stand-ins (top-level `sandbox` package): their commands and `make run` processes. A live image leaves the
# package out, and then the app is simply not installed.
if importlib.util.find_spec("sandbox") is not None:
    INSTALLED_APPS.append("sandbox")

MIDDLEWARE = [
    "jarvis.logging.CorrelationIdMiddleware",
    "monitoring.middleware.MetricsMiddleware",
    "monitoring.middleware.HealthMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "axes.middleware.AxesMiddleware",
]

AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env_int("ADMIN_LOGIN_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = 0.25  # hours
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_VERBOSE = False

ROOT_URLCONF = "jarvis.urls"
WSGI_APPLICATION = "jarvis.wsgi.application"
ASGI_APPLICATION = "jarvis.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "jarvis" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# Connections are kept between requests and tasks for DATABASE_CONN_MAX_AGE seconds (health-checked before reuse);
# a new Postgres connection costs a backend fork, several milliseconds on every order. 0 behind a transaction pooler.
DATABASES = {
    "default": database_from_url(
        "DATABASE_URL",
        f"sqlite:///{VAR_DIR / 'jarvis.sqlite3'}",
        base_dir=BASE_DIR,
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60, minimum=0),
    )
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = redis_url("REDIS_URL", "redis://127.0.0.1:6379/0")
# The cache may live on another Redis database (or server) than the broker: its keys all expire (TIMEOUT), and a
# full cache never takes the broker's memory when it has a server of its own.
CACHE_REDIS_URL = redis_url("CACHE_REDIS_URL", REDIS_URL)
# The master's name when REDIS_URL or CACHE_REDIS_URL is a sentinel:// list (Redis Sentinel: docs/configuration.md).
REDIS_SENTINEL_MASTER = sentinel_master("REDIS_SENTINEL_MASTER", "mymaster")
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": [CACHE_REDIS_URL],  # a list: a sentinel:// list's ';' is not a second server
        "KEY_PREFIX": "jarvis",
        "TIMEOUT": env_int("CACHE_TIMEOUT_SECONDS", 300, minimum=1),
        "OPTIONS": {
            "socket_connect_timeout": 2, "socket_timeout": 2,
            **({"pool_class": "jarvis.redis.SentinelPool"} if CACHE_REDIS_URL.startswith("sentinel://") else {}),
        },
    }
}

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = DEBUG

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "rest_framework.authentication.BasicAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAdminUser"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "jarvis.api.exception_handler",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Jarvis API",
    "DESCRIPTION": "Health checks and the operator dashboard of the Jarvis trading desk.",
    "VERSION": VERSION,
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAdminUser"],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "POSTPROCESSING_HOOKS": ["drf_spectacular.hooks.postprocess_schema_enums", "jarvis.api.schema_error_responses"],
}

# --- Celery -------------------------------------------------------------------------------------
CELERY_BROKER_URL = REDIS_URL
CELERY_RESULT_BACKEND = REDIS_URL
CELERY_TASK_ALWAYS_EAGER = False
CELERY_DEFAULT_SOFT_TIME_LIMIT = env_int("CELERY_SOFT_TIME_LIMIT", 60, minimum=1)
CELERY_DEFAULT_TIME_LIMIT = env_int("CELERY_TIME_LIMIT", 90, minimum=2)
if CELERY_DEFAULT_TIME_LIMIT <= CELERY_DEFAULT_SOFT_TIME_LIMIT:
    raise ConfigError("CELERY_TIME_LIMIT must be greater than CELERY_SOFT_TIME_LIMIT")
CELERY_MAX_TASKS_PER_CHILD = env_int("CELERY_MAX_TASKS_PER_CHILD", 1000, minimum=1)
# Cold shutdown (SIGQUIT, or SIGTERM where REMAP_SIGTERM=SIGQUIT) first waits this long for running tasks; late-ack
# tasks still running after it go back to their queue. 0: Celery's default (cancel at once).
CELERY_SOFT_SHUTDOWN_SECONDS = env_int("CELERY_SOFT_SHUTDOWN_SECONDS", 0, minimum=0, maximum=3600)
CELERY_MAX_MEMORY_PER_CHILD_KB = env_int("CELERY_MAX_MEMORY_PER_CHILD_KB", 300_000, minimum=10_000)

# --- Product ------------------------------------------------------------------------------------
# paper: simulated fills (the default); sandbox: the live code path against the local chain and
# venue stand-ins; live: real venues and a real Solana cluster.
TRADING_MODE = env_choice("TRADING_MODE", "paper", ("paper", "sandbox", "live"))
# --- External services: real clients in trading/, local stand-ins in sandbox/ -------------
# In paper and sandbox mode every URL defaults to the local sandbox (`manage.py sandbox`), so nothing
# reaches a real venue or cluster unless the operator both selects live mode and names real endpoints.
_LIVE = TRADING_MODE == "live"
SANDBOX_HOST = env_str("SANDBOX_HOST", "127.0.0.1")
SANDBOX_RPC_PORT = env_int("SANDBOX_RPC_PORT", 8899, minimum=1, maximum=65535)
SANDBOX_BAGS_PORT = env_int("SANDBOX_BAGS_PORT", 8901, minimum=1, maximum=65535)
SANDBOX_JUPITER_PORT = env_int("SANDBOX_JUPITER_PORT", 8902, minimum=1, maximum=65535)
SANDBOX_SEED = env_int("SANDBOX_SEED", 7)
SOLANA_RPC_URL = env_str("SOLANA_RPC_URL", None if _LIVE else f"http://{SANDBOX_HOST}:{SANDBOX_RPC_PORT}")
# The RPC WebSocket (PubSub) endpoint the prices role subscribes to: the sandbox's, on the RPC port + 1 as a Solana
# node serves it; none by default in live mode (prices are then polled; see docs/trading.md "Streaming prices").
SOLANA_WS_URL = env_str("SOLANA_WS_URL", None if _LIVE else f"ws://{SANDBOX_HOST}:{SANDBOX_RPC_PORT + 1}")
PRICE_STREAM_QUIET_SECONDS = env_int("PRICE_STREAM_QUIET_SECONDS", 5, minimum=1)  # no message this long: reconnect
PRICE_STREAM_STALE_SECONDS = env_int("PRICE_STREAM_STALE_SECONDS", 10, minimum=2)  # readiness: heartbeat age limit
PRICE_STREAM_WATCH_SECONDS = env_int("PRICE_STREAM_WATCH_SECONDS", 2, minimum=1)  # re-read the mints to watch
BAGS_API_URL = env_str(
    "BAGS_API_URL", "https://public-api-v2.bags.fm/api/v1" if _LIVE else f"http://{SANDBOX_HOST}:{SANDBOX_BAGS_PORT}/api/v1"
)
BAGS_API_KEY = env_str("BAGS_API_KEY", None if _LIVE else "sandbox-bags-key")
JUPITER_API_URL = env_str("JUPITER_API_URL", "https://api.jup.ag" if _LIVE else f"http://{SANDBOX_HOST}:{SANDBOX_JUPITER_PORT}")
JUPITER_API_KEY = env_str("JUPITER_API_KEY", None if _LIVE else "sandbox-jupiter-key")
DEXSCREENER_API_URL = env_str("DEXSCREENER_API_URL", "https://api.dexscreener.com" if _LIVE else None)
if _LIVE:
    for _name in ("SOLANA_RPC_URL", "BAGS_API_KEY", "JUPITER_API_KEY"):
        if not globals()[_name]:
            raise ConfigError(f"{_name} is required when TRADING_MODE=live")
TELEGRAM_BOT_TOKEN = env_str("TELEGRAM_BOT_TOKEN", None)
TELEGRAM_ADMIN_IDS = env_int_list("TELEGRAM_ADMIN_IDS")
FLOWER_URL = env_str("FLOWER_URL", "http://127.0.0.1:5555")

# --- Telegram (telegram_app/, docs/telegram.md) -------------------------------------------------------
# Without a token the bot talks to the local Bot API stand-in (`manage.py telegram_standin`).
TELEGRAM_STANDIN_PORT = env_int("TELEGRAM_STANDIN_PORT", 8903, minimum=1, maximum=65535)
TELEGRAM_API_URL = env_str(
    "TELEGRAM_API_URL", "https://api.telegram.org" if TELEGRAM_BOT_TOKEN else f"http://127.0.0.1:{TELEGRAM_STANDIN_PORT}"
)
TELEGRAM_WEBHOOK_URL = env_str("TELEGRAM_WEBHOOK_URL", None)  # public https base URL of the web role
TELEGRAM_WEBHOOK_SECRET = env_str("TELEGRAM_WEBHOOK_SECRET", None)  # path part and X-Telegram-Bot-Api-Secret-Token
TELEGRAM_SEND_PER_SECOND = env_int("TELEGRAM_SEND_PER_SECOND", 30, minimum=1, maximum=1000)
TELEGRAM_SEND_MARGIN_MS = env_int("TELEGRAM_SEND_MARGIN_MS", 25, minimum=0, maximum=1000)
# Telegram counts the bot's replies and edits like any message. Replies may use all of TELEGRAM_SEND_PER_SECOND;
# notifications what the replies of the last second leave less this reserve (room for more replies), but never less
# than the floor (exit fills still go out under a flood of commands).
TELEGRAM_REPLY_RESERVE_PER_SECOND = env_int("TELEGRAM_REPLY_RESERVE_PER_SECOND", 5, minimum=0, maximum=999)
TELEGRAM_NOTIFICATION_FLOOR_PER_SECOND = env_int("TELEGRAM_NOTIFICATION_FLOOR_PER_SECOND", 10, minimum=1, maximum=999)
TELEGRAM_GROUP_PER_MINUTE = env_int("TELEGRAM_GROUP_PER_MINUTE", 20, minimum=1, maximum=60)
# Telegram allows one message a second in a private chat; not read from the environment (a shorter gap would be
# answered with 429s). Tests against a Bot API stand-in whose chat window is as short may set it lower.
TELEGRAM_CHAT_INTERVAL_MS = 1000
TELEGRAM_COMMANDS_PER_MINUTE = env_int("TELEGRAM_COMMANDS_PER_MINUTE", 30, minimum=1)
TELEGRAM_COMMAND_BURST = env_int("TELEGRAM_COMMAND_BURST", 8, minimum=1)
TELEGRAM_BOT_PROCESSES = env_int("TELEGRAM_BOT_PROCESSES", 0, minimum=0, maximum=64)  # 0: handlers in threads

# --- Trading core (trading/, docs/trading.md) ---------------------------------------------------------
# Wallet secrets are encrypted with AES-GCM under the FIRST key of "kid:base64key,..."; every listed key
# decrypts (rotation: prepend a new key, run `manage.py rotate_wallet_key`, then drop the old one).
WALLET_ENCRYPTION_KEYS = env_str("WALLET_ENCRYPTION_KEYS", None)
if _LIVE and not WALLET_ENCRYPTION_KEYS:
    raise ConfigError("WALLET_ENCRYPTION_KEYS is required when TRADING_MODE=live")
PAPER_START_BALANCE_LAMPORTS = int(env_decimal("PAPER_START_BALANCE_SOL", "10") * 1_000_000_000)
if PAPER_START_BALANCE_LAMPORTS < 0:
    raise ConfigError("PAPER_START_BALANCE_SOL must not be negative")
# Withdrawals: a trader's daily cap unless they set their own, and how long a new allow-list address waits.
WITHDRAW_DAILY_CAP_LAMPORTS = int(env_decimal("WITHDRAW_DAILY_CAP_SOL", "100") * 1_000_000_000)
if WITHDRAW_DAILY_CAP_LAMPORTS <= 0:
    raise ConfigError("WITHDRAW_DAILY_CAP_SOL must be positive")
WITHDRAW_ALLOWLIST_COOLDOWN_SECONDS = env_int("WITHDRAW_ALLOWLIST_COOLDOWN_SECONDS", 24 * 3600, minimum=0)
PAPER_FEE_BPS = env_int("PAPER_FEE_BPS", 100, minimum=0, maximum=1000)
PAPER_SLIPPAGE_BPS = env_int("PAPER_SLIPPAGE_BPS", 30, minimum=0, maximum=5000)
PAPER_IMPACT_BPS_PER_SOL = env_int("PAPER_IMPACT_BPS_PER_SOL", 10, minimum=0, maximum=5000)
PRICE_MAX_AGE_SECONDS = env_int("PRICE_MAX_AGE_SECONDS", 30, minimum=1)

# --- TP/SL engine (trading/tpsl/, docs/exits.md) ------------------------------------------------------
TPSL_INTERVAL_SECONDS = env_int("TPSL_INTERVAL_SECONDS", 1, minimum=1, maximum=60)  # beat period of the sweep
TPSL_PRICE_MAX_AGE_SECONDS = env_int("TPSL_PRICE_MAX_AGE_SECONDS", 10, minimum=1)  # older = no data, no trigger
TPSL_SHARD_BUDGET = env_int("TPSL_SHARD_BUDGET", 50_000, minimum=100)  # open positions one sweep task handles
TPSL_EXIT_MAX_FAILURES = env_int("TPSL_EXIT_MAX_FAILURES", 5, minimum=1)  # then flag + "exit.stuck"
TPSL_RETRY_BASE_SECONDS = env_int("TPSL_RETRY_BASE_SECONDS", 2, minimum=1)
TPSL_RETRY_MAX_SECONDS = env_int("TPSL_RETRY_MAX_SECONDS", 60, minimum=1)
TPSL_STUCK_RETRY_SECONDS = env_int("TPSL_STUCK_RETRY_SECONDS", 300, minimum=1)
TPSL_EXIT_REQUEUE_SECONDS = env_int("TPSL_EXIT_REQUEUE_SECONDS", 30, minimum=5)
TPSL_STALE_ALERT_EVERY_SECONDS = env_int("TPSL_STALE_ALERT_EVERY_SECONDS", 60, minimum=1)
TPSL_DEFAULT_SELL_SLIPPAGE_BPS = env_int("TPSL_DEFAULT_SELL_SLIPPAGE_BPS", 500, minimum=1, maximum=5000)
TPSL_PRICE_FETCH_THREADS = env_int("TPSL_PRICE_FETCH_THREADS", 4, minimum=1, maximum=32)  # parallel price batches
TPSL_INLINE_PUBLISH_MAX = env_int("TPSL_INLINE_PUBLISH_MAX", 16, minimum=1)  # more exits per tick: fanned out
TPSL_PUBLISH_SLICES = env_int("TPSL_PUBLISH_SLICES", 8, minimum=1)  # at most this many publishing tasks per tick
LIMIT_MAX_EXPIRY_DAYS = env_int("LIMIT_MAX_EXPIRY_DAYS", 30, minimum=1, maximum=365)  # a limit order lives at most this long
LIMIT_PRICE_MAX_RATIO = env_int("LIMIT_PRICE_MAX_RATIO", 1000, minimum=2)  # a level this many times off the price is absurd
DCA_MIN_INTERVAL_SECONDS = env_int("DCA_MIN_INTERVAL_SECONDS", 60, minimum=1)  # the shortest interval between DCA buys
DCA_MAX_BUYS = env_int("DCA_MAX_BUYS", 1000, minimum=1)  # the most buys one DCA plan makes
DCA_TICK_SECONDS = env_int("DCA_TICK_SECONDS", 5, minimum=1, maximum=60)  # beat period of the DCA task
# beat period of the launch follower: one bags.fm feed call per tick (bags.fm allows 1,000-5,000 calls an hour per key)
LAUNCH_TICK_SECONDS = env_int("LAUNCH_TICK_SECONDS", 10, minimum=2, maximum=300)

# --- Execution (trading/chain, trading/venues, trading/execution; docs/execution.md) -------------------
# Timeouts are seconds (not money, so float is fine); fees are integer lamports.
SOLANA_RPC_TIMEOUT_SECONDS = float(env_decimal("SOLANA_RPC_TIMEOUT_SECONDS", "5"))
VENUE_TIMEOUT_SECONDS = float(env_decimal("VENUE_TIMEOUT_SECONDS", "5"))
EXECUTION_RESEND_SECONDS = float(env_decimal("EXECUTION_RESEND_SECONDS", "2"))
EXECUTION_LAND_BUDGET_SECONDS = env_int("EXECUTION_LAND_BUDGET_SECONDS", 90, minimum=1, maximum=110)
EXECUTION_LOCK_SECONDS = env_int("EXECUTION_LOCK_SECONDS", 15, minimum=1)
EXECUTION_MAX_ATTEMPTS = env_int("EXECUTION_MAX_ATTEMPTS", 3, minimum=1, maximum=10)
EXECUTION_VENUE_ROUNDS = env_int("EXECUTION_VENUE_ROUNDS", 3, minimum=1, maximum=10)
EXECUTION_PRIORITY_FEE_MAX_LAMPORTS = env_int("EXECUTION_PRIORITY_FEE_MAX_LAMPORTS", 1_000_000, minimum=1)
# The compute-unit price (micro-lamports) of each fixed priority level, and the percentile of recent
# prioritization fees each level takes when the trader's policy is "auto" (exits go one level higher).
EXECUTION_PRIORITY_LEVEL_PRICES = {
    "low": env_int("EXECUTION_PRIORITY_LOW_MICROLAMPORTS", 1_000, minimum=0),
    "medium": env_int("EXECUTION_PRIORITY_MEDIUM_MICROLAMPORTS", 10_000, minimum=0),
    "high": env_int("EXECUTION_PRIORITY_HIGH_MICROLAMPORTS", 100_000, minimum=0),
    "veryHigh": env_int("EXECUTION_PRIORITY_VERY_HIGH_MICROLAMPORTS", 500_000, minimum=0),
}
EXECUTION_PRIORITY_AUTO_PERCENTILES = {"low": 25, "medium": 50, "high": 75, "veryHigh": 95}
# MEV protection: the bundle's tip is this percentile of bags.fm's jito-recent-fees (landed tips), at least the floor.
EXECUTION_BUNDLE_TIP_PERCENTILE = env_int("EXECUTION_BUNDLE_TIP_PERCENTILE", 50, minimum=25, maximum=99)
EXECUTION_BUNDLE_TIP_MIN_LAMPORTS = env_int("EXECUTION_BUNDLE_TIP_MIN_LAMPORTS", 1_000, minimum=1_000)
EXECUTION_BUNDLE_TIP_MAX_LAMPORTS = env_int("EXECUTION_BUNDLE_TIP_MAX_LAMPORTS", 10_000_000, minimum=1_000)
EXECUTION_EXIT_SLIPPAGE_BONUS_BPS = env_int("EXECUTION_EXIT_SLIPPAGE_BONUS_BPS", 200, minimum=0, maximum=5000)
EXECUTION_STALE_SECONDS = env_int("EXECUTION_STALE_SECONDS", 60, minimum=5)

# --- Provider rate limits (trading/ratelimit.py, docs/integrations.md) --------------------------------
# "<requests>/<seconds>" per provider account, shared by every process through Redis; "0" or empty: no limit of
# ours (a 429 still pauses the provider). Live defaults are the smallest plans: bags.fm 1,000 requests an hour per
# key, Jupiter's free plan 60 a minute (a 60 s sliding window, shared by Swap and Price), DexScreener 300 a minute.
def _rate_plan(name: str, live_default: str) -> tuple[int, float] | None:
    value = (env_str(name, live_default if _LIVE else "0") or "0").strip()
    if value in ("", "0"):
        return None
    try:
        requests, seconds = value.split("/")
        plan = (int(requests), float(seconds))
    except ValueError:
        raise ConfigError(f"{name}={value!r} must look like 1000/3600 (requests/seconds) or 0") from None
    if plan[0] < 1 or plan[1] <= 0:
        raise ConfigError(f"{name}={value!r} must allow at least one request in a positive number of seconds")
    return plan


PROVIDER_RATE_LIMITS = {
    name: plan
    for name, plan in (
        ("bags", _rate_plan("BAGS_RATE_LIMIT", "1000/3600")),
        ("jupiter", _rate_plan("JUPITER_RATE_LIMIT", "60/60")),
        ("dexscreener", _rate_plan("DEXSCREENER_RATE_LIMIT", "300/60")),
        # The RPC provider's account: 10 a second is the smallest plans' figure (Solana's public mainnet endpoint
        # allows 100 per 10 s per IP; free plans of the hosted providers about 10 a second). Set it to your plan.
        ("solana_rpc", _rate_plan("SOLANA_RPC_RATE_LIMIT", "10/1")),
    )
    if plan is not None
}
# Percent of each window a priority class may fill: exits all of it, entries, previews and price polling less, so
# the rest is always there for the classes above them.
PROVIDER_SHARE_ENTRY = env_int("PROVIDER_SHARE_ENTRY", 85, minimum=1, maximum=100)
PROVIDER_SHARE_PREVIEW = env_int("PROVIDER_SHARE_PREVIEW", 60, minimum=1, maximum=100)
PROVIDER_SHARE_POLL = env_int("PROVIDER_SHARE_POLL", 40, minimum=1, maximum=100)
PROVIDER_DEFAULT_PAUSE_SECONDS = env_int("PROVIDER_DEFAULT_PAUSE_SECONDS", 5, minimum=1, maximum=3600)  # a bare 429

# --- Backups (backups/, docs/runbooks/backup-restore.md) ---------------------------------------------
BACKUP_STORAGE = env_choice("BACKUP_STORAGE", "local", ("local", "s3"))
BACKUP_DIR = Path(env_str("BACKUP_DIR", str(VAR_DIR / "backups")))
BACKUP_STAGING_DIR = Path(env_str("BACKUP_STAGING_DIR", str(BACKUP_DIR / ".staging")))
BACKUP_S3_BUCKET = env_str("BACKUP_S3_BUCKET", None)
BACKUP_S3_PREFIX = env_str("BACKUP_S3_PREFIX", "jarvis/")
BACKUP_S3_ENDPOINT_URL = env_str("BACKUP_S3_ENDPOINT_URL", None)
BACKUP_S3_REGION = env_str("BACKUP_S3_REGION", None)
BACKUP_S3_ACCESS_KEY_ID = env_str("BACKUP_S3_ACCESS_KEY_ID", None)
BACKUP_S3_SECRET_ACCESS_KEY = env_str("BACKUP_S3_SECRET_ACCESS_KEY", None)
BACKUP_S3_TIMEOUT = env_int("BACKUP_S3_TIMEOUT", 30, minimum=1)
if BACKUP_STORAGE == "s3" and not BACKUP_S3_BUCKET:
    raise ConfigError("BACKUP_S3_BUCKET is required when BACKUP_STORAGE=s3")
PG_BIN_DIR = env_str("PG_BIN_DIR", None)  # unset: the newest /usr/lib/postgresql/<n>/bin, else PATH
BACKUP_COMPRESS_LEVEL = env_int("BACKUP_COMPRESS_LEVEL", 1, minimum=0, maximum=9)
BACKUP_RESTORE_JOBS = env_int("BACKUP_RESTORE_JOBS", 2, minimum=1, maximum=64)
BACKUP_SCRATCH_DB_PREFIX = env_str("BACKUP_SCRATCH_DB_PREFIX", "jarvis_verify")
BACKUP_TIMEOUT_SECONDS = env_int("BACKUP_TIMEOUT_SECONDS", 3000, minimum=10)
BACKUP_KEEP_HOURLY = env_int("BACKUP_KEEP_HOURLY", 24, minimum=0)
BACKUP_KEEP_DAILY = env_int("BACKUP_KEEP_DAILY", 30, minimum=0)
BACKUP_KEEP_MONTHLY = env_int("BACKUP_KEEP_MONTHLY", 12, minimum=0)
BACKUP_KEEP_MANUAL = env_int("BACKUP_KEEP_MANUAL", 10, minimum=0)
BACKUP_KEEP_FAILED_DAYS = env_int("BACKUP_KEEP_FAILED_DAYS", 30, minimum=1)
# 32 random bytes, URL-safe base64 (or BACKUP_ENCRYPTION_KEY_FILE); unset: backup files are stored unencrypted.
BACKUP_ENCRYPTION_KEY = env_str("BACKUP_ENCRYPTION_KEY", None)
try:
    _backup_key_length = len(base64.urlsafe_b64decode((BACKUP_ENCRYPTION_KEY or "").strip().encode("ascii")))
except ValueError:
    _backup_key_length = -1
if BACKUP_ENCRYPTION_KEY and _backup_key_length != 32:
    raise ConfigError("BACKUP_ENCRYPTION_KEY must be 32 random bytes in URL-safe base64 (docs/configuration.md)")

# --- /vibe, the operators' assistant (assistant/, docs/vibe.md) ---------------------------------------
# An Anthropic Messages API provider through the official SDK. Outside live mode the defaults point at the local
# stand-in (`manage.py llm_standin`); in live mode /vibe is off until VIBE_API_KEY is set.
VIBE_STANDIN_PORT = env_int("VIBE_STANDIN_PORT", 8904, minimum=1, maximum=65535)
VIBE_API_KEY = env_str("VIBE_API_KEY", None if _LIVE else "sandbox-llm-key")
VIBE_BASE_URL = env_str("VIBE_BASE_URL", None if _LIVE else f"http://{SANDBOX_HOST}:{VIBE_STANDIN_PORT}")
VIBE_MODEL = env_str("VIBE_MODEL", "claude-sonnet-4-5")
VIBE_MAX_TOKENS = env_int("VIBE_MAX_TOKENS", 1024, minimum=64, maximum=64_000)  # one answer's output
VIBE_CONTEXT_TURNS = env_int("VIBE_CONTEXT_TURNS", 10, minimum=0, maximum=100)  # earlier questions+answers sent along
VIBE_DAILY_TOKENS = env_int("VIBE_DAILY_TOKENS", 200_000, minimum=1)  # per admin per UTC day (input + output)
VIBE_TIMEOUT_SECONDS = env_int("VIBE_TIMEOUT_SECONDS", 30, minimum=1, maximum=300)  # one provider request
VIBE_MAX_RETRIES = env_int("VIBE_MAX_RETRIES", 1, minimum=0, maximum=5)  # the SDK's own retries (429, 5xx)
VIBE_TOOL_ROUNDS = env_int("VIBE_TOOL_ROUNDS", 4, minimum=1, maximum=10)  # model turns per question
VIBE_EDIT_INTERVAL_MS = env_int("VIBE_EDIT_INTERVAL_MS", 1000, minimum=250, maximum=10_000)  # streaming edits
VIBE_ACTION_TTL_SECONDS = 300  # a proposal's button (telegram_app.callbacks.SHORT_LIVED "va")
# Log lines kept for /vibe's log tool (jarvis/logbuffer.py): this level and above, the newest N, redacted.
LOG_RECENT_LEVEL = env_choice("LOG_RECENT_LEVEL", "warning", ("debug", "info", "warning", "error")).upper()
LOG_RECENT_LINES = env_int("LOG_RECENT_LINES", 5000, minimum=100, maximum=100_000)

# --- Monitoring (monitoring/, docs/monitoring.md) ------------------------------------------------
# /metrics answers only `Authorization: Bearer <METRICS_TOKEN>`; unset, every scrape is refused.
METRICS_TOKEN = env_str("METRICS_TOKEN", None)
# Workers and the bot serve their own processes' counters on this port (monitoring.exporter); 0: not served.
METRICS_PORT = env_int("METRICS_PORT", 0, minimum=0, maximum=65535)
# Readiness details for an uptime service without a login: /api/v1/health/ready/?token=<this>.
MONITORING_READINESS_TOKEN = env_str("MONITORING_READINESS_TOKEN", None)
MONITORING_CHECK_TIMEOUT_SECONDS = float(env_decimal("MONITORING_CHECK_TIMEOUT_SECONDS", "1"))  # not money
MONITORING_READINESS_CACHE_SECONDS = float(env_decimal("MONITORING_READINESS_CACHE_SECONDS", "1.5"))
MONITORING_READINESS_SKIP = env_list("MONITORING_READINESS_SKIP", [])
MONITORING_BEAT_INTERVAL_SECONDS = env_int("MONITORING_BEAT_INTERVAL_SECONDS", 10, minimum=1)
# Beat's lock (jarvis.beat): one active beat; a standby takes over at most this long after the holder dies.
BEAT_LOCK_SECONDS = env_int("BEAT_LOCK_SECONDS", 6, minimum=2, maximum=300)
MONITORING_WORKER_HEARTBEAT_SECONDS = env_int("MONITORING_WORKER_HEARTBEAT_SECONDS", 5, minimum=1)
MONITORING_PRICE_STALE_SECONDS = env_int("MONITORING_PRICE_STALE_SECONDS", 30, minimum=1)
MONITORING_BOT_STALE_SECONDS = env_int("MONITORING_BOT_STALE_SECONDS", 60, minimum=1)
MONITORING_UPTIME_KEEP_DAYS = env_int("MONITORING_UPTIME_KEEP_DAYS", 90, minimum=1)
MONITORING_BUDGET_WARN_PERCENT = env_int("MONITORING_BUDGET_WARN_PERCENT", 80, minimum=1, maximum=100)
MONITORING_ALERT_WEBHOOK_URL = env_str("MONITORING_ALERT_WEBHOOK_URL", None)
if MONITORING_CHECK_TIMEOUT_SECONDS <= 0 or MONITORING_READINESS_CACHE_SECONDS < 0:
    raise ConfigError("MONITORING_CHECK_TIMEOUT_SECONDS must be positive and MONITORING_READINESS_CACHE_SECONDS not negative")

# --- Logging ------------------------------------------------------------------------------------
LOG_LEVEL = env_choice("LOG_LEVEL", "info", ("debug", "info", "warning", "error")).upper()
LOG_FORMAT = env_choice("LOG_FORMAT", "json", ("json", "text"))
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "correlation": {"()": "jarvis.logging.CorrelationIdFilter"},
        "redact": {"()": "jarvis.redact.RedactFilter"},
        # Each run of a periodic housekeeping task (the 1 s exit sweep, heartbeats, ...) at DEBUG, not INFO.
        "routine": {"()": "jarvis.logging.RoutineTaskFilter"},
    },
    "formatters": {
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s %(correlation_id)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        },
        "text": {"format": "%(asctime)s %(levelname)s %(name)s [%(correlation_id)s] %(message)s"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler", "formatter": LOG_FORMAT, "filters": ["routine", "correlation", "redact"],
        },
        "recent": {"()": "jarvis.logbuffer.RecentLogHandler", "level": LOG_RECENT_LEVEL, "filters": ["redact"]},
    },
    "root": {"handlers": ["console", "recent"], "level": LOG_LEVEL},
    "loggers": {
        # The bot token is part of every Bot API URL: httpx must never log request lines.
        "httpx": {"level": "WARNING"},
        "httpcore": {"level": "WARNING"},
        "telegram": {"level": "WARNING"},
        "django.db.backends": {"level": "WARNING"},
        "celery": {"level": LOG_LEVEL},
    },
}

SENTRY_DSN = env_str("SENTRY_DSN", None)
SENTRY_ENVIRONMENT = env_str("SENTRY_ENVIRONMENT", "production" if not DEBUG else "development")
SENTRY_TRACES_SAMPLE_RATE = float(env_decimal("SENTRY_TRACES_SAMPLE_RATE", "0"))  # a sampling rate, not money
if SENTRY_DSN:
    from jarvis.observability import init_sentry

    init_sentry(dsn=SENTRY_DSN, environment=SENTRY_ENVIRONMENT, traces_sample_rate=SENTRY_TRACES_SAMPLE_RATE, release=VERSION)
