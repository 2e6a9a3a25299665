"""Websocket routes (config/asgi.py wraps them in the origin check and the auth middleware)."""

from django.urls import path

from .consumers import GenerationConsumer, UserConsumer

websocket_urlpatterns = [
    path("ws/generations/<uuid:generation_id>/", GenerationConsumer.as_asgi()),
    path("ws/me/", UserConsumer.as_asgi()),
]
