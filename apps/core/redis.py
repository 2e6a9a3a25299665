"""The Redis client for the platform's own keys (queue ETAs, the worker registry, webhook
throttles), and the namespace they live in.

One client per process, made on first use, on REDIS_URL with one-second timeouts: a Redis
outage costs a caller a second and an exception it handles, never a hang. `redis_client_for`
gives the one client of this process for another URL (the API throttles' server): a client
holds a connection pool that every thread shares, so a process keeps a few connections open
however many threads (the web tier runs each request in a new one) use it. The keys go under the
channel layer's prefix, which is unique per install (config/settings/base.py), so two installs
on one Redis server never share them.
"""

from __future__ import annotations

import threading

from django.conf import settings

_client = None
_clients: dict[tuple, object] = {}
_clients_lock = threading.Lock()


def redis_client():
    global _client
    if _client is None:
        import redis

        _client = redis.Redis.from_url(
            settings.REDIS_URL, socket_timeout=1.0, socket_connect_timeout=1.0
        )
    return _client


def redis_client_for(url: str, *, socket_timeout: float = 1.0, socket_connect_timeout: float = 1.0):
    """This process's client for `url` with these timeouts, made on first use."""
    key = (url, socket_timeout, socket_connect_timeout)
    client = _clients.get(key)
    if client is None:
        import redis

        with _clients_lock:
            client = _clients.get(key)
            if client is None:
                client = _clients[key] = redis.Redis.from_url(
                    url,
                    socket_timeout=socket_timeout,
                    socket_connect_timeout=socket_connect_timeout,
                )
    return client


def install_key_prefix(name: str) -> str:
    """`<channel layer prefix>:<name>:`, the start of this install's keys for `name`."""
    layer = settings.CHANNEL_LAYERS.get("default", {}).get("CONFIG", {})
    return f"{str(layer.get('prefix', 'asgi')).rstrip(':')}:{name}:"
