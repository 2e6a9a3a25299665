"""AI Lounge: a Python client and command line for the video generation API."""

__version__ = "0.1.0"

from .client import Client, Page, Quote  # noqa: E402
from .errors import (  # noqa: E402
    AILoungeError,
    AuthenticationError,
    Conflict,
    ConnectionFailed,
    GenerationFailed,
    InsufficientCredits,
    NotFound,
    RateLimited,
    ServiceUnavailable,
    ValidationError,
)
from .models import Event, Generation  # noqa: E402

__all__ = [
    "AILoungeError",
    "AuthenticationError",
    "Client",
    "Conflict",
    "ConnectionFailed",
    "Event",
    "Generation",
    "GenerationFailed",
    "InsufficientCredits",
    "NotFound",
    "Page",
    "Quote",
    "RateLimited",
    "ServiceUnavailable",
    "ValidationError",
    "__version__",
]
