"""ASGI entry point: HTTP through Django, websockets through Channels (see apps/*/routing.py)."""

import os

from django.core.asgi import get_asgi_application

from config import twisted_compat  # noqa: F401  (Django, not Twisted, answers bad multipart)

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from apps.generation.routing import websocket_urlpatterns  # noqa: E402
from apps.generation.ws_auth import TokenAuthMiddlewareStack  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": AllowedHostsOriginValidator(
            TokenAuthMiddlewareStack(URLRouter(websocket_urlpatterns))
        ),
    }
)
