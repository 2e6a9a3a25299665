"""Settings shared by every environment; values come from the environment (django-environ)."""

import hashlib
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import environ

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()
# .env is optional (every setting has a default): read it only when there is one, so a checkout
# without it starts without django-environ's "not found" warning.
if (BASE_DIR / ".env").is_file():
    env.read_env(str(BASE_DIR / ".env"), overwrite=False)

# --- core -------------------------------------------------------------------------------------
SECRET_KEY = env("DJANGO_SECRET_KEY", default="")
DEBUG = env.bool("DJANGO_DEBUG", default=False)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
SITE_ID = 1
SITE_NAME = "AI Lounge"

DJANGO_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.sites",
    "django.contrib.sitemaps",
]
THIRD_PARTY_APPS = [
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI and ReDoc served from here, not a CDN
    "channels",
    "allauth",
    "allauth.account",
]
LOCAL_APPS = [
    "apps.core",
    "apps.accounts",
    "apps.billing",
    "apps.personas",
    "apps.content",
    "apps.generation",
    "apps.webhooks",
    "apps.web",
]
INSTALLED_APPS = DJANGO_APPS + THIRD_PARTY_APPS + LOCAL_APPS

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    # Last, so it sees a view's exception first: an empty connection pool is a 503, not a 500.
    "apps.core.dbbusy.DatabaseBusyMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

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
                "apps.web.context_processors.site",
            ],
        },
    },
]

# --- data -------------------------------------------------------------------------------------
DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}"),
}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Several processes (web, worker, beat) share the file: wait for locks instead of failing.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"timeout": 30, "transaction_mode": "IMMEDIATE", "init_command": "PRAGMA journal_mode=WAL;"}
    )
elif env.bool("DB_POOL", default=True):
    # PostgreSQL through Django's own connection pool (psycopg-pool), one pool per process (web,
    # worker child, beat): a request or task borrows a connection and gives it back when it ends
    # (CONN_MAX_AGE must be 0 with a pool), so no load opens more than DB_POOL_MAX_SIZE per
    # process. A request that waits DB_POOL_TIMEOUT seconds for one gets a 503 `database_busy`
    # (apps/core/dbbusy.py). Size it so that (web processes + worker processes) × max_size stays
    # under the server's max_connections (docs/deployment.md, "Web tier").
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    # The pool checks a connection before lending it (one empty query), so a server restart
    # costs no request an error.
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = env.bool("CONN_HEALTH_CHECKS", default=True)
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": env.int("DB_POOL_MIN_SIZE", default=1),
        "max_size": env.int("DB_POOL_MAX_SIZE", default=8),
        "timeout": env.float("DB_POOL_TIMEOUT", default=5.0),
        # Idle connections above min_size are closed after this many seconds.
        "max_idle": env.float("DB_POOL_MAX_IDLE", default=60.0),
    }
else:
    # DB_POOL=false (e.g. behind PgBouncer in transaction mode): Django's persistent connections.
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "web:create"
ACCOUNT_LOGOUT_REDIRECT_URL = "web:home"
ACCOUNT_LOGIN_METHODS = {"username", "email"}
ACCOUNT_SIGNUP_FIELDS = ["username*", "email", "password1*", "password2*"]
ACCOUNT_EMAIL_VERIFICATION = "none"
ACCOUNT_LOGOUT_ON_GET = False
EMAIL_BACKEND = env("EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- static and media -------------------------------------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = env("STATIC_ROOT", default=str(VAR_DIR / "staticfiles"))
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_ROOT = env("MEDIA_ROOT", default=str(VAR_DIR / "media"))
# Media is private: it is never served from MEDIA_URL by a web server, only through views that
# check access (apps.generation.apis.GenerationMediaApi).
MEDIA_URL = "/media/"
# Where media is stored: every read and write goes through STORAGES["default"] (apps.core.storage).
# local: files under MEDIA_ROOT (one machine). s3: an S3-compatible bucket (AWS, MinIO, ...), so
# web and workers on different machines share media; MEDIA_ROOT is then only the workers'
# scratch area (a folder per job, removed when the job ends).
MEDIA_STORAGE = env("MEDIA_STORAGE", default="local")


def media_storage(kind: str) -> dict:
    if kind == "local":
        return {"BACKEND": "django.core.files.storage.FileSystemStorage"}
    if kind != "s3":
        raise ValueError(f"MEDIA_STORAGE must be local or s3, not {kind!r}")
    return {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": env("AWS_STORAGE_BUCKET_NAME"),
            "endpoint_url": env("AWS_S3_ENDPOINT_URL", default=None) or None,
            "access_key": env("AWS_ACCESS_KEY_ID", default=None) or None,
            "secret_key": env("AWS_SECRET_ACCESS_KEY", default=None) or None,
            "region_name": env("AWS_S3_REGION_NAME", default=None) or None,
            # Private objects; the media views check access, then redirect to a URL signed
            # for a few minutes (apps.core.storage.media_response).
            "default_acl": "private",
            "querystring_auth": True,
            "querystring_expire": env.int("AWS_QUERYSTRING_EXPIRE", default=300),
            "signature_version": "s3v4",
            # Path-style URLs: MinIO and other S3-compatible servers need them.
            "addressing_style": env("AWS_S3_ADDRESSING_STYLE", default="path"),
            # Like the local backend: an upload never replaces another file of the same name.
            "file_overwrite": False,
        },
    }


STORAGES = {
    "default": media_storage(MEDIA_STORAGE),
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = 30 * 1024 * 1024
# Request limits (docs/architecture.md, "Errors"): a JSON body or form over the size is a 413,
# over the field or file count a 400, JSON nested deeper than JSON_MAX_DEPTH a 400.
DATA_UPLOAD_MAX_NUMBER_FIELDS = env.int("DATA_UPLOAD_MAX_NUMBER_FIELDS", default=1000)
DATA_UPLOAD_MAX_NUMBER_FILES = env.int("DATA_UPLOAD_MAX_NUMBER_FILES", default=100)
JSON_MAX_DEPTH = env.int("JSON_MAX_DEPTH", default=32)
UPLOAD_MAX_BYTES = env.int("UPLOAD_MAX_BYTES", default=20 * 1024 * 1024)
UPLOAD_MAX_PIXELS = env.int("UPLOAD_MAX_PIXELS", default=40_000_000)

# --- REST API ---------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "apps.core.pagination.PageNumbers",
    "PAGE_SIZE": 20,
    "DEFAULT_SCHEMA_CLASS": "apps.core.schema.ApiAutoSchema",
    "EXCEPTION_HANDLER": "apps.core.exceptions.api_exception_handler",
    # Throttles key anonymous clients by REMOTE_ADDR only, never by a client-sent
    # X-Forwarded-For (a forged one per request would dodge them); behind a proxy, daphne's
    # --proxy-headers puts the client's address in REMOTE_ADDR.
    "NUM_PROXIES": 0,
    # JSON through apps.core.parsers (depth, size and finite-number limits).
    "DEFAULT_PARSER_CLASSES": [
        "apps.core.parsers.JSONParser",
        "rest_framework.parsers.FormParser",
        "apps.core.parsers.MultiPartParser",
    ],
}
SPECTACULAR_SETTINGS = {
    "TITLE": "AI Lounge API",
    "DESCRIPTION": "Turn images, prompts and stories into short videos.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "apps.core.schema.split_json_and_multipart",
    ],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Several models have a `kind`: name each choice set once, after its model.
    "ENUM_NAME_OVERRIDES": {
        "GenerationKindEnum": "apps.generation.models.Generation.Kind",
        "GenerationEngineEnum": "apps.generation.models.Generation.Engine",
        "LedgerEntryKindEnum": "apps.billing.models.LedgerEntry.Kind",
        "ImageToVideoQualityEnum": "apps.generation.serializers.IMAGE_TO_VIDEO_QUALITIES",
        "TextToVideoQualityEnum": "apps.generation.serializers.TEXT_TO_VIDEO_QUALITIES",
        "ParamQualityEnum": "apps.generation.serializers.PARAM_QUALITIES",
        "StoryboardQualityEnum": "apps.generation.serializers.QUALITIES",
    },
}

# --- Redis, Celery, Channels ------------------------------------------------------------------
REDIS_URL = env("REDIS_URL", default="redis://127.0.0.1:6379/0")

# The cache the API throttles count in (apps.core.throttling): Redis, shared by every web
# process, its keys under this install's prefix. The default cache stays per-process memory.
CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    "throttle": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_FUNCTION": "apps.core.throttling.throttle_cache_key",
        "OPTIONS": {"socket_timeout": 1.0, "socket_connect_timeout": 1.0},
    },
}

CELERY_BROKER_URL = env("CELERY_BROKER_URL", default=REDIS_URL)
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
CELERY_TIMEZONE = TIME_ZONE
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Per-task limits live on the tasks; the broker must not redeliver a message while it runs.
GENERATION_SOFT_TIME_LIMIT = env.int("GENERATION_SOFT_TIME_LIMIT", default=30 * 60)
GENERATION_TIME_LIMIT = env.int("GENERATION_TIME_LIMIT", default=35 * 60)
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": GENERATION_TIME_LIMIT + 3600}
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
# Housekeeping runs on its own queue, served by its own worker (Procfile: maintenance), so no
# long job can delay it.
MAINTENANCE_QUEUE = "maintenance"
CELERY_TASK_ROUTES = {
    "generation.reap_lost": {"queue": MAINTENANCE_QUEUE},
    "generation.requeue_lost": {"queue": MAINTENANCE_QUEUE},
    "web.cleanup_extend_frames": {"queue": MAINTENANCE_QUEUE},
}
CELERY_BEAT_SCHEDULE = {
    "reap-lost-generations": {
        "task": "generation.reap_lost",
        "schedule": env.float("GENERATION_REAP_INTERVAL", default=30.0),
    },
    "requeue-lost-generations": {
        "task": "generation.requeue_lost",
        # Four looks per GENERATION_REQUEUE_AFTER: a lost message is found well within it.
        "schedule": env.float("GENERATION_REQUEUE_AFTER", default=120.0) / 4,
    },
    "cleanup-extend-frames": {
        "task": "web.cleanup_extend_frames",
        "schedule": 3600.0,
    },
}
# "Extend" pictures (a video's last frame, waiting on the create page) are deleted after this
# many seconds.
EXTEND_FRAME_MAX_AGE = env.int("EXTEND_FRAME_MAX_AGE", default=24 * 3600)

# Redis pub/sub with a resync after a lost connection (apps/generation/channel_layer.py).
# "channels_redis.core.RedisChannelLayer" (queues per channel; "capacity"/"expiry") also works.
CHANNEL_LAYER_BACKEND = env(
    "CHANNEL_LAYER_BACKEND", default="apps.generation.channel_layer.RedisChannelLayer"
)


def install_prefix(*, database: dict, redis_url: str) -> str:
    """This install's namespace in Redis: a short hash of its database and its Redis database.

    Redis pub/sub ignores database numbers, so two installs on one Redis server (staging and
    production, two checkouts) would hear each other's live events under one prefix. Web and
    workers of one install see the same DATABASES and REDIS_URL, so they derive the same prefix,
    and it stays the same across restarts.
    """
    url = urlsplit(redis_url)
    db = parse_qs(url.query).get("db", ["0"])[0]
    if url.scheme == "unix":
        where = url.path
    else:
        where = f"{url.hostname or 'localhost'}:{url.port or 6379}"
        db = url.path.strip("/") or db
    identity = (
        "|".join(str(database.get(key) or "") for key in ("ENGINE", "NAME", "HOST", "PORT"))
        + f"|{where}/{db}"
    )
    return f"ailounge-{hashlib.sha256(identity.encode()).hexdigest()[:12]}:"


# The channel layer's prefix, which the ETA keys, cancel flags and worker registry share
# (apps.generation.eta.key_prefix): unique per install unless set.
CHANNEL_LAYER_PREFIX = env(
    "CHANNEL_LAYER_PREFIX",
    default=install_prefix(database=DATABASES["default"], redis_url=REDIS_URL),
)
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": CHANNEL_LAYER_BACKEND,
        "CONFIG": {
            "hosts": [REDIS_URL],
            "prefix": CHANNEL_LAYER_PREFIX,
            "capacity": 1000,
            "expiry": 30,
        },
    }
}

# --- the generation platform ------------------------------------------------------------------
GENERATION_ENGINE = env("GENERATION_ENGINE", default="auto")  # auto | procedural | diffusers
SVD_MODEL = env("SVD_MODEL", default="")
ZEROSCOPE_MODEL = env("ZEROSCOPE_MODEL", default="")
TORCH_DEVICE = env("TORCH_DEVICE", default="")
# SVD's quality=turbo (feature reuse across steps) costs this share of the stock price (rounded up).
SVD_TURBO_PRICE_FACTOR = env("SVD_TURBO_PRICE_FACTOR", default="0.6")
# A running generation whose worker has not written a heartbeat for this long is reaped.
GENERATION_HEARTBEAT_TIMEOUT = env.int("GENERATION_HEARTBEAT_TIMEOUT", default=120)
GENERATION_HEARTBEAT_INTERVAL = env.float("GENERATION_HEARTBEAT_INTERVAL", default=5.0)
# A job whose worker died mid-run (its message redelivered) runs again from the start, up to
# this many runs in all; then it fails and is refunded. The previous runner counts as gone when
# it was on this machine and its process is gone, or its heartbeat is older than 4 intervals.
GENERATION_MAX_ATTEMPTS = env.int("GENERATION_MAX_ATTEMPTS", default=2)
# A queued job (or storyboard scene, or assembly) whose broker message vanished (a Redis restart
# without persistence, a flushed queue) is sent again within this many seconds of the loss, up
# to GENERATION_MAX_REQUEUES times; then it fails and is refunded.
GENERATION_REQUEUE_AFTER = env.float("GENERATION_REQUEUE_AFTER", default=120.0)
GENERATION_MAX_REQUEUES = env.int("GENERATION_MAX_REQUEUES", default=3)
GENERATION_PROGRESS_MIN_INTERVAL = env.float("GENERATION_PROGRESS_MIN_INTERVAL", default=0.5)

FREE_CREDITS = env.int("FREE_CREDITS", default=50)

STRIPE_SECRET_KEY = env("STRIPE_SECRET_KEY", default="")
STRIPE_PUBLISHABLE_KEY = env("STRIPE_PUBLISHABLE_KEY", default="")
STRIPE_WEBHOOK_SECRET = env("STRIPE_WEBHOOK_SECRET", default="")
STRIPE_API_BASE = env("STRIPE_API_BASE", default="")
GEMINI_API_KEY = env("GEMINI_API_KEY", default="")
GEMINI_BASE_URL = env("GEMINI_BASE_URL", default="")
CONTENT_AUTO_APPROVE = env.bool("CONTENT_AUTO_APPROVE", default=False)

# --- outgoing webhooks (apps.webhooks, docs/webhooks.md) ---
# true only in tests and closed networks: webhook URLs may then be http and private addresses.
WEBHOOK_ALLOW_PRIVATE = env.bool("WEBHOOK_ALLOW_PRIVATE", default=False)
# Retries of a failed delivery: exponential backoff from WEBHOOK_RETRY_BACKOFF seconds, each wait
# at most WEBHOOK_RETRY_BACKOFF_MAX, WEBHOOK_MAX_RETRIES times, each drawn at random up to its
# step (the defaults: up to about 6 hours in all, 3 on average).
WEBHOOK_RETRY_BACKOFF = env.int("WEBHOOK_RETRY_BACKOFF", default=30)
WEBHOOK_RETRY_BACKOFF_MAX = env.int("WEBHOOK_RETRY_BACKOFF_MAX", default=3600)
WEBHOOK_MAX_RETRIES = env.int("WEBHOOK_MAX_RETRIES", default=12)
WEBHOOK_TIMEOUT_SECONDS = env.float("WEBHOOK_TIMEOUT_SECONDS", default=10.0)

# --- storyboards ---
# Uploaded narration audio: at most this many bytes and seconds (checked by decoding it).
STORYBOARD_NARRATION_MAX_BYTES = env.int("STORYBOARD_NARRATION_MAX_BYTES", default=20 * 1024 * 1024)
STORYBOARD_NARRATION_MAX_SECONDS = env.float("STORYBOARD_NARRATION_MAX_SECONDS", default=300.0)

# --- content ----------------------------------------------------------------------------------
# Words and phrases refused in prompts, negative prompts, persona text and titles, before anything
# is charged (apps.core.screening.prompt_screen). Matched as whole words, case-insensitively.
# Set CONTENT_BLOCKLIST to a comma-separated list to replace the defaults.
CONTENT_BLOCKLIST = env.list(
    "CONTENT_BLOCKLIST",
    default=[
        "child porn",
        "child pornography",
        "csam",
        "child sexual abuse",
        "sexualized minor",
        "sexualised minor",
        "underage nude",
        "underage sex",
        "nude child",
        "naked child",
        "revenge porn",
        "non-consensual porn",
        "deepfake porn",
        "deepfake nude",
        "bestiality",
        "snuff film",
    ],
)
# "Character from image": the Gemini model asked for persona drafts, and its retry policy
# (exponential backoff on 429 and 5xx, then the local analysis).
GEMINI_MODEL = env("GEMINI_MODEL", default="gemini-2.5-flash")
GEMINI_TIMEOUT_SECONDS = env.float("GEMINI_TIMEOUT_SECONDS", default=30.0)
GEMINI_RETRY_ATTEMPTS = env.int("GEMINI_RETRY_ATTEMPTS", default=4)
GEMINI_RETRY_INITIAL_DELAY = env.float("GEMINI_RETRY_INITIAL_DELAY", default=1.0)
GEMINI_RETRY_MAX_DELAY = env.float("GEMINI_RETRY_MAX_DELAY", default=20.0)
# --- abuse limits (docs/architecture.md, "Abuse limits") ---
# API throttles, per user (per client address for the token endpoint), counted in Redis across
# every web process (apps.core.throttling): "<n>/<sec|min|hour|day>", "" for none. A refusal is
# a 429 `throttled` with Retry-After.
THROTTLE_RATE_CREATE = env("THROTTLE_RATE_CREATE", default="30/min")
THROTTLE_RATE_QUOTE = env("THROTTLE_RATE_QUOTE", default="120/min")
THROTTLE_RATE_AUTH = env("THROTTLE_RATE_AUTH", default="10/min")
# Persona drafts per user: each one may be a paid Gemini call.
PERSONA_DRAFT_RATE = env("PERSONA_DRAFT_RATE", default="30/hour")
# Jobs a user may have queued or running at once (a storyboard is one job); more is a 429
# `too_many_active`. Staff set a user's own number in the admin (User.max_active_generations).
MAX_ACTIVE_GENERATIONS_PER_USER = env.int("MAX_ACTIVE_GENERATIONS_PER_USER", default=8)
# Credits a user may spend per UTC day (spends less refunds since 00:00 UTC, from the ledger);
# more is a 402 `daily_limit` with Retry-After. Unset: no limit. Per user: User.daily_spend_limit.
DAILY_SPEND_LIMIT = env.int("DAILY_SPEND_LIMIT", default=None)
# The image screen (apps.core.image_screen): a transformers image-classification model (a local
# folder or a hub id) run on uploaded pictures in the web process, before the charge. Off when
# empty; needs transformers and torch in the web process (requirements/worker.txt).
IMAGE_SCREEN_MODEL = env("IMAGE_SCREEN_MODEL", default="")
# The model's labels that refuse a picture (case-insensitive), from this score (0..1) on.
IMAGE_SCREEN_LABELS = env.list("IMAGE_SCREEN_LABELS", default=["nsfw"])
IMAGE_SCREEN_THRESHOLD = env.float("IMAGE_SCREEN_THRESHOLD", default=0.8)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
