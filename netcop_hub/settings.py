"""
NetCop Wallet settings: one file, read from the environment (and `.env`) with python-decouple.

Every variable is documented in `.env.example`. Development defaults are safe to run locally;
with DEBUG off the app refuses to start without a real SECRET_KEY.
"""

from datetime import timedelta
from pathlib import Path

import dj_database_url
from csp.constants import NONE, SELF, UNSAFE_INLINE
from decouple import Csv, config
from django.core.exceptions import ImproperlyConfigured

from netcop_hub import config as parse

# Durations, amounts, counts and rate limits are parsed here, once, into typed values (timedelta,
# Decimal, int, Rate or None for "off"); a bad value stops Django naming the variable.

BASE_DIR = Path(__file__).resolve().parent.parent


def optional(name: str, default, cast=str):
    """Like decouple's config, but an empty value (`NAME=` in .env) means "not set"."""
    raw = config(name, default="")
    return default if raw.strip() == "" else config(name, cast=cast)


# --- Core -------------------------------------------------------------------------------------
DEBUG = optional("DEBUG", True, cast=bool)

# Used only with DEBUG on (refused below otherwise).
_DEV_SECRET_KEY = "django-insecure-development-only-key-never-use-in-production"  # nosec B105
SECRET_KEY = optional("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. With DEBUG off NetCop Wallet refuses to start without a real "
            "secret key: set SECRET_KEY in the environment or .env (50+ random characters)."
        )
    SECRET_KEY = _DEV_SECRET_KEY
elif not DEBUG and (SECRET_KEY.startswith("django-insecure") or len(SECRET_KEY) < 32):
    raise ImproperlyConfigured(
        "SECRET_KEY looks like a development key. With DEBUG off use a long random value."
    )

ALLOWED_HOSTS = config("ALLOWED_HOSTS", default="127.0.0.1,localhost,testserver", cast=Csv())
CSRF_TRUSTED_ORIGINS = config("CSRF_TRUSTED_ORIGINS", default="", cast=Csv())

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "axes",
    "django_tasks",
    "django_tasks_db",
    "django_rq",
    # Issue 20: TOTP two-factor for staff (authentication/two_factor.py), recovery codes as static tokens.
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "authentication",
    "wallet",
    "documents",
    "agents",
    "api",  # issue 21: /api/v1/, keys and webhooks pages (above agents)
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Early, so it sees every JSON answer (no-store) and a view's RequestDataTooBig (JSON 413).
    "netcop_hub.http.NoStoreJsonMiddleware",
    # Any domain error a view lets through becomes its JSON or page answer (netcop_hub.errors).
    "netcop_hub.http.DomainErrorMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Issue 20: request.user.is_verified() (django-otp), then no admin page for staff without it.
    "django_otp.middleware.OTPMiddleware",
    "authentication.two_factor.AdminTwoFactorMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    # A NUL in the path or query answers 404 (PostgreSQL refuses NUL: an admin lookup answered 500);
    # inside the security middlewares, so that 404 carries their headers like any other.
    "netcop_hub.urlguard.NulInUrlMiddleware",
    "netcop_hub.ratelimit.RateLimitMiddleware",
    # Last, as django-axes asks: it turns a locked-out log-in into the lockout response.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "netcop_hub.urls"
WSGI_APPLICATION = "netcop_hub.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "wallet.context_processors.wallet",
                # The page config (user messages for the scripts), rendered by base.html.
                "netcop_hub.pageconfig.page_config",
            ],
        },
    },
]

# --- Database ---------------------------------------------------------------------------------
DATABASES = {
    "default": dj_database_url.parse(
        optional("DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
        conn_max_age=optional("DB_CONN_MAX_AGE", 60, cast=int),
        conn_health_checks=True,
    )
}
# PostgreSQL: the ledger's hottest statements are sent prepared, planned once per connection
# (netcop_hub.db). Off behind PgBouncer in transaction mode unless it is 1.22+ with
# max_prepared_statements > 0 (the default only from 1.24).
DB_PREPARED_STATEMENTS = optional("DB_PREPARED_STATEMENTS", True, cast=bool)
if DB_PREPARED_STATEMENTS and DATABASES["default"]["ENGINE"].endswith("postgresql"):
    # psycopg prepares nothing while its threshold is None (Django's default). Django's own cursors bind
    # on the client and are never prepared whatever the threshold; this one only lets netcop_hub.db's
    # cursor ask for it, and is high enough that nothing is prepared merely for being run often.
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault("prepare_threshold", 2**31 - 1)
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # IMMEDIATE takes the write lock at BEGIN, so concurrent writers queue (busy timeout) instead of
    # failing with "database is locked" on lock upgrade; WAL lets readers run beside the writer.
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    # A file (not the shared in-memory database) so threaded concurrency tests see real locking.
    DATABASES["default"]["TEST"] = {
        "NAME": optional("SQLITE_TEST_NAME", str(BASE_DIR / "test_db.sqlite3"))
    }

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- HTTPS and browser security (production: DEBUG off) ----------------------------------------
# Each can be overridden, e.g. SECURE_SSL_REDIRECT=False behind a proxy that already redirects.
SECURE_SSL_REDIRECT = optional("SECURE_SSL_REDIRECT", not DEBUG, cast=bool)
# Only behind a proxy that sets X-Forwarded-Proto itself (and strips the client's).
_TRUST_PROXY_PROTO = optional("TRUST_X_FORWARDED_PROTO", False, cast=bool)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if _TRUST_PROXY_PROTO else None
SESSION_COOKIE_SECURE = optional("SESSION_COOKIE_SECURE", not DEBUG, cast=bool)
CSRF_COOKIE_SECURE = optional("CSRF_COOKIE_SECURE", not DEBUG, cast=bool)
SECURE_HSTS_SECONDS = optional("SECURE_HSTS_SECONDS", 0 if DEBUG else 31536000, cast=int)
SECURE_HSTS_INCLUDE_SUBDOMAINS = optional("SECURE_HSTS_INCLUDE_SUBDOMAINS", not DEBUG, cast=bool)
SECURE_HSTS_PRELOAD = optional("SECURE_HSTS_PRELOAD", not DEBUG, cast=bool)
SECURE_REFERRER_POLICY = "strict-origin-when-cross-origin"
SECURE_CONTENT_TYPE_NOSNIFF = True
SESSION_COOKIE_HTTPONLY = True
# Pages read the token from the form's csrfmiddlewaretoken input (static/js/common.js), never the cookie.
CSRF_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
CSRF_FAILURE_VIEW = "netcop_hub.views.csrf_failure"

# --- Auth -------------------------------------------------------------------------------------
AUTH_USER_MODEL = "authentication.User"
LOGIN_URL = "authentication:login"
LOGIN_REDIRECT_URL = "wallet:topup"
LOGOUT_REDIRECT_URL = "home"
AUTHENTICATION_BACKENDS = [
    # django-axes first: it refuses log-ins for a locked-out (email, IP) pair before checking passwords.
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# --- I18N / static ----------------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = optional("TIME_ZONE", "Asia/Dubai")
USE_I18N = True
# One date format ("7 Dec 2026, 14:05") on every page and in the admin: netcop_hub/formats/en/formats.py.
FORMAT_MODULE_PATH = ["netcop_hub.formats"]
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}

# --- Cache (rate limits) ----------------------------------------------------------------------
REDIS_URL = optional("REDIS_URL", "")
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# --- Background work: Django's tasks framework (django-tasks, the backport of django.tasks) ----------
# TASKS_BACKEND=db (default): tasks are rows in the app's own database, run by `manage.py db_worker`.
# TASKS_BACKEND=rq: tasks go to Redis (TASKS_REDIS_URL, default REDIS_URL), run by `manage.py rqworker
# default agents --with-scheduler` on as many hosts as needed. TASKS_BACKEND=immediate runs each
# task inside the call that enqueues it (tests, debugging; a slow agent then blocks its request again).
TASKS_BACKEND = optional("TASKS_BACKEND", "db").lower()
# "agents" holds agent runs (slow, network-bound); "default" holds emails and the periodic chores,
# so a deployment can give each its own workers.
TASK_QUEUES = ["default", "agents"]
TASKS_REDIS_URL = optional("TASKS_REDIS_URL", REDIS_URL or "redis://127.0.0.1:6379/0")
_TASK_BACKENDS = {
    "db": "django_tasks_db.DatabaseBackend",
    "rq": "django_tasks_rq.RQBackend",
    "immediate": "django_tasks.backends.immediate.ImmediateBackend",
}
if TASKS_BACKEND not in _TASK_BACKENDS:
    raise ImproperlyConfigured(
        f"TASKS_BACKEND must be one of {', '.join(_TASK_BACKENDS)}, not {TASKS_BACKEND!r}."
    )
TASKS = {"default": {"BACKEND": _TASK_BACKENDS[TASKS_BACKEND], "QUEUES": TASK_QUEUES}}
# django-rq's queues (used only by the rq backend). The job timeout is the hard limit RQ kills a job
# at: longer than the slowest agent run (the http runner times out after at most 120 s).
RQ_QUEUES = {name: {"URL": TASKS_REDIS_URL, "DEFAULT_TIMEOUT": 300} for name in TASK_QUEUES}
RQ_SHOW_ADMIN_LINK = False

# Queued agent runs: a run not picked up by a worker within AGENT_QUEUE_MAX_WAIT is refunded; a run
# whose worker vanished (no result AGENT_RUN_LOST_AFTER after it started) is retried once, then refunded.
AGENT_QUEUE_MAX_WAIT = parse.required_duration("AGENT_QUEUE_MAX_WAIT", "10m")
AGENT_RUN_LOST_AFTER = parse.required_duration("AGENT_RUN_LOST_AFTER", "5m")

# The scheduler (`manage.py run_scheduler`, started by `make run`) enqueues the periodic chores at
# these intervals ("off" disables one). Safe on several hosts: each (chore, time slot) is claimed
# once in the database.
SCHEDULE_RECONCILE_TOPUPS = parse.duration("SCHEDULE_RECONCILE_TOPUPS", "5m", allow_off=True)
SCHEDULE_SWEEP_AGENT_RUNS = parse.duration("SCHEDULE_SWEEP_AGENT_RUNS", "1m", allow_off=True)
# The database backend keeps a row per task: rows finished over 14 days ago are pruned this often.
SCHEDULE_PRUNE_TASK_RESULTS = parse.duration("SCHEDULE_PRUNE_TASK_RESULTS", "1d", allow_off=True)
# The scheduled reconciliation leaves top-ups younger than this to the browser and the webhook.
RECONCILE_OLDER_THAN = parse.required_duration("RECONCILE_OLDER_THAN", "2m")

# --- Documents and VAT (issue 22) ----------------------------------------------------------------
# The seller printed on every tax invoice, credit note and statement (Article 59 of the UAE VAT
# Executive Regulation asks for its name, address and TRN).
INVOICE_SELLER_NAME = parse.raw("INVOICE_SELLER_NAME") or "NetCop Security FZ-LLC"
INVOICE_SELLER_ADDRESS = (
    parse.raw("INVOICE_SELLER_ADDRESS") or "Dubai Internet City, Dubai, United Arab Emirates"
)
INVOICE_SELLER_TRN = parse.trn("INVOICE_SELLER_TRN")
VAT_RATE = parse.vat_rate("VAT_RATE", "5")
# "topup": a top-up is the taxable supply (its invoice carries the VAT); "usage": a top-up is a
# prepayment (a receipt without VAT) and the agent usage is invoiced monthly with the VAT.
VAT_TAX_POINT = parse.choice("VAT_TAX_POINT", "topup", parse.TAX_POINTS)
# Whether amounts charged (top-ups, agent prices) include the VAT or have it added on top.
VAT_PRICES = parse.choice("VAT_PRICES", "inclusive", parse.PRICE_BASES)
# How often the scheduler looks for last month's statements still to issue (they are issued once).
SCHEDULE_MONTHLY_DOCUMENTS = parse.duration("SCHEDULE_MONTHLY_DOCUMENTS", "1h", allow_off=True)

# --- Email ------------------------------------------------------------------------------------
EMAIL_BACKEND = optional("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = optional("EMAIL_HOST", "localhost")
EMAIL_PORT = optional("EMAIL_PORT", 25, cast=int)
EMAIL_HOST_USER = optional("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = optional("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = optional("EMAIL_USE_TLS", False, cast=bool)
DEFAULT_FROM_EMAIL = optional("DEFAULT_FROM_EMAIL", "NetCop Wallet <wallet@localhost>")
# --- Ops addresses (OPS_EMAILS) --- (mail_admins: early fraud warnings; Django's server-error emails)
ADMINS = parse.admins("OPS_EMAILS")
# mail_admins sends from SERVER_EMAIL, whose Django default (root@localhost) most mail servers refuse.
SERVER_EMAIL = DEFAULT_FROM_EMAIL
# --- end ops addresses ---
# Directory for django.core.mail.backends.filebased.EmailBackend (one file per email).
EMAIL_FILE_PATH = optional("EMAIL_FILE_PATH", str(BASE_DIR / "sent_emails"))
# Receipts and refund notices are sent by a task: while the mail server is down it retries, waiting
# EMAIL_RETRY_AFTER, then twice that, ..., EMAIL_MAX_ATTEMPTS sends in all.
EMAIL_RETRY_AFTER = parse.required_duration("EMAIL_RETRY_AFTER", "1m")
EMAIL_MAX_ATTEMPTS = parse.integer("EMAIL_MAX_ATTEMPTS", 6, minimum=1)

# --- Wallet and Stripe ------------------------------------------------------------------------
WALLET_CURRENCY = optional("WALLET_CURRENCY", "AED").upper()
TOPUP_MIN_AMOUNT = parse.amount("TOPUP_MIN_AMOUNT", "2.00")
TOPUP_MAX_AMOUNT = parse.amount("TOPUP_MAX_AMOUNT", "10000.00")
if TOPUP_MIN_AMOUNT > TOPUP_MAX_AMOUNT:
    raise ImproperlyConfigured(
        f"TOPUP_MIN_AMOUNT ({TOPUP_MIN_AMOUNT}) is above TOPUP_MAX_AMOUNT ({TOPUP_MAX_AMOUNT}): "
        "set e.g. TOPUP_MIN_AMOUNT=2 and TOPUP_MAX_AMOUNT=10000."
    )
# The most one wallet may hold: top-ups and adjustments that would pass it are refused up front.
# Auto-recharge (issue 14): after a failed automatic top-up no new attempt for AUTO_RECHARGE_BACKOFF
# (a duration like 30m, 1h), whatever the balance does; ops are warned (log WARNING, admin) about any
# user with more than AUTO_RECHARGE_RUNAWAY_PER_HOUR automatic top-ups in the last hour.
# Where emails link to (the wallet, the billing settings): the site's public address.
SITE_URL = optional("SITE_URL", "http://127.0.0.1:8000").rstrip("/")
AUTO_RECHARGE_BACKOFF = parse.required_duration("AUTO_RECHARGE_BACKOFF", "1h")
AUTO_RECHARGE_MAX_FAILURES = parse.integer("AUTO_RECHARGE_MAX_FAILURES", 3, minimum=1)
AUTO_RECHARGE_RUNAWAY_PER_HOUR = parse.integer("AUTO_RECHARGE_RUNAWAY_PER_HOUR", 5, minimum=1)
WALLET_MAX_BALANCE = parse.amount("WALLET_MAX_BALANCE", "100000.00")

STRIPE_SECRET_KEY = optional("STRIPE_SECRET_KEY", "")
STRIPE_PUBLISHABLE_KEY = optional("STRIPE_PUBLISHABLE_KEY", "")
STRIPE_WEBHOOK_SECRET = optional("STRIPE_WEBHOOK_SECRET", "")
# Sandbox mode: no real keys configured (or STRIPE_SANDBOX=1) -> talk to a local localstripe.
STRIPE_SANDBOX = optional("STRIPE_SANDBOX", not STRIPE_SECRET_KEY, cast=bool)
if not DEBUG and not STRIPE_SECRET_KEY and config("STRIPE_SANDBOX", default="").strip() == "":
    # Without this, a production deploy that forgot its keys would send payments to a local fake.
    raise ImproperlyConfigured(
        "STRIPE_SECRET_KEY is not set. With DEBUG off set the Stripe keys, or STRIPE_SANDBOX=1 "
        "explicitly to run against localstripe."
    )
LOCALSTRIPE_PORT = optional("LOCALSTRIPE_PORT", 8420, cast=int)
LOCALSTRIPE_URL = optional("LOCALSTRIPE_URL", f"http://127.0.0.1:{LOCALSTRIPE_PORT}")
if STRIPE_SANDBOX:
    STRIPE_SECRET_KEY = STRIPE_SECRET_KEY or "sk_test_sandbox"
    STRIPE_PUBLISHABLE_KEY = STRIPE_PUBLISHABLE_KEY or "pk_test_sandbox"
STRIPE_API_BASE = optional("STRIPE_API_BASE", LOCALSTRIPE_URL if STRIPE_SANDBOX else "")
# The payment gateway's backend (wallet.payments), like Django's EMAIL_BACKEND: STRIPE_SANDBOX picks
# the sandbox (localstripe) or real Stripe; set PAYMENTS_BACKEND to a dotted class path to override.
PAYMENTS_BACKEND = optional(
    "PAYMENTS_BACKEND",
    "wallet.payments.sandbox.SandboxBackend" if STRIPE_SANDBOX else "wallet.payments.stripe.StripeBackend",
)
# The Stripe API version we speak, pinned (stripe-python would send its own newest, on which
# PaymentIntent create no longer takes payment_method_types). The contract tests check every
# request against stripe-mock's spec of exactly this version.
STRIPE_API_VERSION = optional("STRIPE_API_VERSION", "2023-08-16")
STRIPE_TIMEOUT_SECONDS = parse.integer("STRIPE_TIMEOUT_SECONDS", 10, minimum=1)
STRIPE_MAX_NETWORK_RETRIES = parse.integer("STRIPE_MAX_NETWORK_RETRIES", 2)

# --- Nothing lost: reconciliation of top-ups (manage.py reconcile_topups) ----------------------
# Durations like 30s, 15m, 1h, 1d. A top-up waiting for 3-D Secure longer than TOPUP_ABANDON_AFTER
# has its intent canceled; one whose intent never appeared at Stripe is failed after
# TOPUP_UNSTARTED_AFTER.
TOPUP_ABANDON_AFTER = parse.required_duration("TOPUP_ABANDON_AFTER", "24h")
TOPUP_UNSTARTED_AFTER = parse.required_duration("TOPUP_UNSTARTED_AFTER", "1h")
# An automatic top-up (auto-recharge) whose off-session charge met a Stripe outage is decided sooner:
# it is one server call under a known idempotency key (no browser can still create its intent), and
# while it is pending it blocks every recharge of that wallet (issue 18). Keep it above Stripe search's
# lag (about a minute).
AUTO_RECHARGE_UNSTARTED_AFTER = parse.required_duration("AUTO_RECHARGE_UNSTARTED_AFTER", "5m")

# --- Abuse protection ----------------------------------------------------------------------------
# Rate limits, per user and per client IP, as COUNT/PERIOD (s, m, h, d); "off" disables one.
RATE_LIMITS_ENABLED = optional("RATE_LIMITS_ENABLED", True, cast=bool)
TOPUP_RATE_LIMIT = parse.rate("TOPUP_RATE_LIMIT", "10/10m")
# Each confirm asks Stripe for the intent: bounded so one user cannot spend the account's API quota.
CONFIRM_RATE_LIMIT = parse.rate("CONFIRM_RATE_LIMIT", "30/10m")
AGENT_RATE_LIMIT = parse.rate("AGENT_RATE_LIMIT", "60/1m")
# Saving the billing settings and choosing or removing a saved card each ask Stripe for the cards:
# bounded so one account cannot use up the business's Stripe rate limit.
BILLING_RATE_LIMIT = parse.rate("BILLING_RATE_LIMIT", "20/10m")
LOGIN_RATE_LIMIT = parse.rate("LOGIN_RATE_LIMIT", "20/10m")
SIGNUP_RATE_LIMIT = parse.rate("SIGNUP_RATE_LIMIT", "10/1h")
# Password-reset emails, per client IP and per target email; over it the answer is the same as for
# an unknown address and no email is sent.
PASSWORD_RESET_RATE_LIMIT = parse.rate("PASSWORD_RESET_RATE_LIMIT", "5/1h")
# Behind a reverse proxy, the META key holding the client address (e.g. HTTP_X_REAL_IP).
RATE_LIMIT_IP_HEADER = optional("RATE_LIMIT_IP_HEADER", "")

# The `http` agent runner calls public addresses only (no loopback, private, link-local or cloud
# metadata address, checked when an agent is saved and after DNS at run time). True allows an agent
# service on this host or private network.
AGENT_HTTP_ALLOW_PRIVATE = optional("AGENT_HTTP_ALLOW_PRIVATE", False, cast=bool)

# Log-in brute force (django-axes): after AXES_FAILURE_LIMIT failures for one email from one IP,
# that pair is locked for AXES_COOLOFF_MINUTES. Locking the pair, not the account, means an
# attacker cannot lock a victim out from the victim's own network; the lock also expires.
AXES_ENABLED = optional("AXES_ENABLED", True, cast=bool)
AXES_FAILURE_LIMIT = parse.integer("AXES_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=parse.integer("AXES_COOLOFF_MINUTES", 15, minimum=1))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_USERNAME_CALLABLE = "authentication.views.axes_username"
AXES_VERBOSE = False

# --- Fraud: card testing on top-ups, verified emails, staff two-factor (issue 20) -----------------
# Declines per account, per client address and per card fingerprint (where Stripe gives one) in a
# fixed window, as COUNT/PERIOD or "off": once reached, top-ups are refused (429, Retry-After) before
# anything is created at Stripe, until the window ends.
TOPUP_DECLINE_LIMIT = parse.rate("TOPUP_DECLINE_LIMIT", "5/1h")
TOPUP_DECLINE_IP_LIMIT = parse.rate("TOPUP_DECLINE_IP_LIMIT", "20/1h")
TOPUP_DECLINE_CARD_LIMIT = parse.rate("TOPUP_DECLINE_CARD_LIMIT", "3/1d")
# The most an account may top up in total during its first day (AED), or "off".
NEW_ACCOUNT_TOPUP_LIMIT = parse.amount_or_off("NEW_ACCOUNT_TOPUP_LIMIT", "500.00")
# An account confirms its email through a signed link before its first top-up.
TOPUP_REQUIRE_VERIFIED_EMAIL = optional("TOPUP_REQUIRE_VERIFIED_EMAIL", True, cast=bool)
# How long a verification link works, and how often one account may ask for another.
EMAIL_VERIFICATION_MAX_AGE = parse.required_duration("EMAIL_VERIFICATION_MAX_AGE", "3d")
VERIFY_EMAIL_RATE_LIMIT = parse.rate("VERIFY_EMAIL_RATE_LIMIT", "3/1h")
# Every staff account needs a second factor (TOTP, or a one-time recovery code) before any admin page.
ADMIN_REQUIRE_2FA = optional("ADMIN_REQUIRE_2FA", True, cast=bool)
# Wrong codes per staff account in a window; past it, even a right code waits (lockout).
ADMIN_2FA_RATE_LIMIT = parse.rate("ADMIN_2FA_RATE_LIMIT", "5/15m")
# The name authenticator apps show beside the account.
OTP_TOTP_ISSUER = "NetCop Wallet"
# Wrong codes are limited by ADMIN_2FA_RATE_LIMIT instead (authentication/two_factor.py says why).
OTP_TOTP_THROTTLE_FACTOR = 0
OTP_STATIC_THROTTLE_FACTOR = 0

# Content-Security-Policy (django-csp): exactly what Stripe.js documents. In the sandbox the top-up
# page adds localstripe's origin for itself (wallet.views.topup_page). No inline or eval'd scripts
# anywhere. Inline *styles* stay allowed because Django's admin templates use style attributes.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF, "https://js.stripe.com", "https://*.js.stripe.com"],
        "frame-src": ["https://js.stripe.com", "https://*.js.stripe.com", "https://hooks.stripe.com"],
        "connect-src": [SELF, "https://api.stripe.com"],
        "img-src": [SELF, "data:", "https://*.stripe.com"],
        "style-src": [SELF, UNSAFE_INLINE],
        "font-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}

# --- Logging: details server-side, never to clients --------------------------------------------
# Every line is printed once, by the root handler. Django's own default config gives the "django"
# logger a console handler of its own (when DEBUG) that would print each line a second time as the
# record propagates to root; this replaces that handler and keeps Django's error emails to ADMINS.
# "django.server" (runserver's request lines) keeps Django's own handler and does not propagate.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"require_debug_false": {"()": "django.utils.log.RequireDebugFalse"}},
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain"},
        "mail_admins": {
            "class": "django.utils.log.AdminEmailHandler",
            "level": "ERROR",
            "filters": ["require_debug_false"],
        },
    },
    "root": {"handlers": ["console"], "level": optional("LOG_LEVEL", "INFO")},
    "loggers": {
        "django": {"handlers": ["mail_admins"], "level": "INFO", "propagate": True},
        "django.db.backends": {"level": "WARNING"},
        "axes": {"level": "WARNING"},
        # issue 22: WeasyPrint logs every rendering step at INFO.
        "weasyprint": {"level": "WARNING"},
        "fontTools": {"level": "WARNING"},
    },
}


# --- API (issue 21) -----------------------------------------------------------------------------
# Requests per API key per window (answered 429 with Retry-After past it); "off" disables it.
API_RATE_LIMIT = parse.rate("API_RATE_LIMIT", "120/1m")
# Customer webhooks: an endpoint whose every delivery failed for this long is disabled (owner emailed);
# the chore retrying due deliveries runs this often. WEBHOOK_ALLOW_PRIVATE lets webhooks reach
# private/loopback addresses (tests and local receivers only; never in production).
WEBHOOK_DISABLE_AFTER = parse.required_duration("WEBHOOK_DISABLE_AFTER", "3d")
SCHEDULE_RETRY_WEBHOOKS = parse.duration("SCHEDULE_RETRY_WEBHOOKS", "1m", allow_off=True)
WEBHOOK_ALLOW_PRIVATE = optional("WEBHOOK_ALLOW_PRIVATE", False, cast=bool)
# --- Issue 23: credit lots ---------------------------------------------------------------------------
# How often the scheduler expires promotional credit past its expiry (and queues the 7-day warnings).
# Spends never use expired credit whatever this is; it only decides when the `expiry` row is written.
SCHEDULE_EXPIRE_CREDITS = parse.duration("SCHEDULE_EXPIRE_CREDITS", "5m", allow_off=True)
# Promo code redemptions per account (every attempt counts): guessing codes is slow.
PROMO_REDEEM_RATE_LIMIT = parse.rate("PROMO_REDEEM_RATE_LIMIT", "10/1h")
