"""REST endpoints for the content library: parse input, call one service, shape the output.

Who may see an item is decided by apps.content.selectors; anything a caller may not see, or may
not change, answers 404 (never 403), staff moderation included for non-staff callers.
"""

from __future__ import annotations

from django.http import Http404
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.generics import ListAPIView
from rest_framework.permissions import AllowAny, IsAuthenticatedOrReadOnly
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.exceptions import NotFound
from apps.core.storage import media_exists, media_response

from .models import ContentItem
from .selectors import (
    content_get_for_owner,
    content_get_for_viewer,
    content_list_for_owner,
    content_public_list,
)
from .serializers import (
    ContentItemOutputSerializer,
    ContentItemUpdateSerializer,
    ModerateInputSerializer,
    ReportInputSerializer,
    ReportOutputSerializer,
)
from .services import content_item_update, content_moderate, content_report


class ContentPublicListApi(ListAPIView):
    """The public gallery: public, approved videos of every user (no sign-in needed)."""

    permission_classes = [AllowAny]
    serializer_class = ContentItemOutputSerializer

    def get_queryset(self):
        return content_public_list()


class ContentMineListApi(ListAPIView):
    serializer_class = ContentItemOutputSerializer

    def get_queryset(self):
        return content_list_for_owner(user=self.request.user)


class ContentDetailApi(APIView):
    permission_classes = [IsAuthenticatedOrReadOnly]
    error_statuses = {"patch": (403,)}  # publishing suspended

    @extend_schema(responses=ContentItemOutputSerializer)
    def get(self, request, pk):
        item = content_get_for_viewer(user=request.user, item_id=pk)
        return Response(ContentItemOutputSerializer(item, context={"request": request}).data)

    @extend_schema(request=ContentItemUpdateSerializer, responses=ContentItemOutputSerializer)
    def patch(self, request, pk):
        item = content_get_for_owner(user=request.user, item_id=pk)
        data = ContentItemUpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        item = content_item_update(item=item, **data.validated_data)
        return Response(ContentItemOutputSerializer(item, context={"request": request}).data)


class ContentReportApi(APIView):
    error_statuses = {"post": (409,)}  # already reported

    @extend_schema(request=ReportInputSerializer, responses={201: ReportOutputSerializer})
    def post(self, request, pk):
        item = content_get_for_viewer(user=request.user, item_id=pk)
        data = ReportInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        report = content_report(item=item, reporter=request.user, **data.validated_data)
        return Response(ReportOutputSerializer(report).data, status=status.HTTP_201_CREATED)


class ContentModerateApi(APIView):
    """Staff only (anyone else gets a 404): approve, reject, refund, suspend the owner."""

    error_statuses = {"post": (409,)}  # already refunded, owner already suspended

    @extend_schema(request=ModerateInputSerializer, responses=ContentItemOutputSerializer)
    def post(self, request, pk):
        if not request.user.is_staff:
            raise NotFound("No such video.")
        item = content_get_for_viewer(user=request.user, item_id=pk)
        data = ModerateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        item = content_moderate(item=item, actor=request.user, **data.validated_data)
        return Response(ContentItemOutputSerializer(item, context={"request": request}).data)


class ContentMediaApi(APIView):
    """An item's video or thumbnail, for whoever may see the item (anonymous included when it is
    shared and approved); Range-aware. Anyone else gets a 404."""

    permission_classes = [AllowAny]

    @extend_schema(exclude=True)
    def get(self, request, pk, name: str):
        try:
            item = content_get_for_viewer(user=request.user, item_id=pk)
        except NotFound:
            raise Http404
        field = getattr(item.generation, name)
        if not field or not media_exists(field.name):
            raise Http404
        # Thumbnails may be JPEG or WebP: the file name tells.
        content_type = "video/mp4" if name == "video" else None
        # Short when shared: a video that is hidden or removed stops being served from caches
        # soon. (A redirect to a signed URL is never cached.)
        cache_control = "public, max-age=300" if item.is_shared else "private, max-age=60"
        response = media_response(
            request, field.name, content_type=content_type, cache_control=cache_control
        )
        if item.visibility != ContentItem.Visibility.PUBLIC or not item.is_shared:
            response["X-Robots-Tag"] = "noindex"
        return response
