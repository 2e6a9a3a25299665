"""REST endpoints for personas: parse input, call one service, shape the output.

Only the owner sees or changes a persona; another user's id answers 404.
"""

from __future__ import annotations

from django.http import Http404
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.generics import ListAPIView
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.parsers import JSONParser, MultiPartParser
from apps.core.storage import media_exists, media_response
from apps.core.throttling import PersonaDraftThrottle

from .selectors import persona_get, persona_list
from .serializers import (
    PersonaDraftInputSerializer,
    PersonaDraftOutputSerializer,
    PersonaInputSerializer,
    PersonaOutputSerializer,
)
from .services import persona_create, persona_delete, persona_draft_from_image, persona_update

PARSERS = [JSONParser, MultiPartParser]


class PersonaListCreateApi(ListAPIView):
    serializer_class = PersonaOutputSerializer
    parser_classes = PARSERS
    error_statuses = {"post": (409,)}  # a persona of that name exists

    def get_queryset(self):
        return persona_list(user=self.request.user)

    @extend_schema(request=PersonaInputSerializer, responses={201: PersonaOutputSerializer})
    def post(self, request):
        data = PersonaInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        persona = persona_create(user=request.user, **data.validated_data)
        body = PersonaOutputSerializer(persona, context={"request": request}).data
        return Response(body, status=status.HTTP_201_CREATED)


class PersonaDetailApi(APIView):
    parser_classes = PARSERS
    error_statuses = {"patch": (409,)}  # a persona of that name exists

    @extend_schema(responses=PersonaOutputSerializer)
    def get(self, request, pk):
        persona = persona_get(user=request.user, persona_id=pk)
        return Response(PersonaOutputSerializer(persona, context={"request": request}).data)

    @extend_schema(request=PersonaInputSerializer, responses=PersonaOutputSerializer)
    def patch(self, request, pk):
        persona = persona_get(user=request.user, persona_id=pk)
        data = PersonaInputSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        persona = persona_update(persona=persona, **data.validated_data)
        return Response(PersonaOutputSerializer(persona, context={"request": request}).data)

    @extend_schema(responses={204: None})
    def delete(self, request, pk):
        persona_delete(persona=persona_get(user=request.user, persona_id=pk))
        return Response(status=status.HTTP_204_NO_CONTENT)


class PersonaDraftApi(APIView):
    """Character from image: a persona draft (nothing stored), from Gemini or the local analysis."""

    parser_classes = [MultiPartParser]
    throttle_classes = [PersonaDraftThrottle]

    @extend_schema(request=PersonaDraftInputSerializer, responses=PersonaDraftOutputSerializer)
    def post(self, request):
        data = PersonaDraftInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        draft = persona_draft_from_image(image=data.validated_data["image"])
        return Response(PersonaDraftOutputSerializer(draft.as_dict()).data)


class PersonaReferenceImageApi(APIView):
    """A persona's reference image, for its owner only; anyone else gets a 404."""

    permission_classes = [AllowAny]

    @extend_schema(exclude=True)
    def get(self, request, pk):
        if not request.user.is_authenticated:
            raise Http404
        persona = persona_get(user=request.user, persona_id=pk)
        if not persona.reference_image or not media_exists(persona.reference_image.name):
            raise Http404
        response = media_response(
            request,
            persona.reference_image.name,
            content_type="image/png",
            cache_control="private, max-age=300",
        )
        response["X-Robots-Tag"] = "noindex"
        return response
