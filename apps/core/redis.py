"""The Redis client for the platform's own keys (queue ETAs, the worker registry, webhook
throttles), and the namespace they live in.

One client per process, made on first use, on REDIS_URL with one-second timeouts: a Redis
outage costs a caller a second and an exception it handles, never a hang. The keys go under the
channel layer's prefix, which is unique per install (config/settings/base.py), so two installs
on one Redis server never share them.
"""

from __future__ import annotations

from django.conf import settings

_client = None


def redis_client():
    global _client
    if _client is None:
        import redis

        _client = redis.Redis.from_url(
            settings.REDIS_URL, socket_timeout=1.0, socket_connect_timeout=1.0
        )
    return _client


def install_key_prefix(name: str) -> str:
    """`<channel layer prefix>:<name>:`, the start of this install's keys for `name`."""
    layer = settings.CHANNEL_LAYERS.get("default", {}).get("CONFIG", {})
    return f"{str(layer.get('prefix', 'asgi')).rstrip(':')}:{name}:"
