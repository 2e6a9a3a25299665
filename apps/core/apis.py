"""Endpoints of the API itself rather than of a domain."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView


class PingOutputSerializer(serializers.Serializer):
    ok = serializers.BooleanField()
    user = serializers.CharField(help_text="The username the token or session belongs to.")


class PingApi(APIView):
    """GET /api/v1/ping/: is the API up, and is this token good? Authenticates like every other
    endpoint (one token lookup) and does nothing else, so a client can check its credentials
    and a load test can measure the web tier's own cost per request (bench/create_load.py)."""

    @extend_schema(responses=PingOutputSerializer)
    def get(self, request):
        return Response(
            PingOutputSerializer({"ok": True, "user": request.user.get_username()}).data
        )
