"""REST endpoints for generations: parse input, call one service, shape the output."""

from __future__ import annotations

from django.http import Http404
from drf_spectacular.utils import OpenApiParameter, PolymorphicProxySerializer, extend_schema
from rest_framework import serializers, status
from rest_framework.generics import ListAPIView
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.parsers import JSONParser, MultiPartParser
from apps.core.storage import media_exists, media_response
from apps.core.throttling import CreateThrottle, QuoteThrottle

from .models import Generation
from .rerun import generation_rerun
from .selectors import generation_get, generation_list
from .serializers import (
    PARAMS_SERIALIZERS,
    STORYBOARD_QUOTE_FIELDS,
    GenerationCreateInputSerializer,
    GenerationOutputSerializer,
    GenerationQuoteQuerySerializer,
    GenerationQuoteSerializer,
    ImageToVideoCreateSerializer,
    JSONObjectField,
    RerunInputSerializer,
    StoryboardCreateSerializer,
    StoryboardQuoteInputSerializer,
    TextToVideoCreateSerializer,
    params_defaults_for,
    quote_param_fields,
)
from .services import generation_cancel, generation_create, generation_quote
from .storyboards.planning import storyboard_quote
from .storyboards.selectors import storyboard_scene_clip
from .storyboards.services import storyboard_create, storyboard_retry, storyboard_scene_retry


class GenerationListCreateApi(ListAPIView):
    serializer_class = GenerationOutputSerializer
    parser_classes = [JSONParser, MultiPartParser]
    # 402 short credits, 409 an Idempotency-Key reused with another body, 503 queue or engine
    error_statuses = {"post": (402, 409, 503)}
    throttle_classes = [CreateThrottle]  # POST only

    def get_queryset(self):
        return generation_list(user=self.request.user).prefetch_related("scenes")

    @extend_schema(
        # A JSON body per kind, each with its own parameters (GenerationCreateInputSerializer
        # parses them all); a multipart body is that one object, files and all (a fuzzer
        # cannot judge a oneOf over files), its rules per kind the same.
        request={
            "application/json": PolymorphicProxySerializer(
                component_name="GenerationCreate",
                serializers={
                    Generation.Kind.IMAGE_TO_VIDEO.value: ImageToVideoCreateSerializer,
                    Generation.Kind.TEXT_TO_VIDEO.value: TextToVideoCreateSerializer,
                    Generation.Kind.STORYBOARD.value: StoryboardCreateSerializer,
                },
                resource_type_field_name="kind",
            ),
            "multipart/form-data": GenerationCreateInputSerializer,
        },
        responses={201: GenerationOutputSerializer, 200: GenerationOutputSerializer},
        parameters=[OpenApiParameter("Idempotency-Key", str, OpenApiParameter.HEADER)],
    )
    def post(self, request):
        data = GenerationCreateInputSerializer(data=request.data, context={"request": request})
        data.is_valid(raise_exception=True)
        fields = dict(data.validated_data)
        idempotency_key = request.headers.get("Idempotency-Key", "")[:255]
        if fields["kind"] == Generation.Kind.STORYBOARD:
            del fields["kind"]
            result = storyboard_create(user=request.user, idempotency_key=idempotency_key, **fields)
        else:
            result = generation_create(user=request.user, idempotency_key=idempotency_key, **fields)
        body = GenerationOutputSerializer(result.generation, context={"request": request}).data
        return Response(
            body, status=status.HTTP_201_CREATED if result.created else status.HTTP_200_OK
        )


class GenerationQuoteApi(APIView):
    throttle_classes = [QuoteThrottle]
    error_statuses = {"get": (400, 503)}  # 503: an engine this server does not run

    @extend_schema(parameters=[GenerationQuoteQuerySerializer], responses=GenerationQuoteSerializer)
    def get(self, request):
        query = request.query_params
        checked = GenerationQuoteQuerySerializer(data=query.dict())
        checked.is_valid(raise_exception=True)  # unknown names, types and ranges, as at create
        values = checked.validated_data
        kind = values["kind"]
        persona = self._persona(request, query)
        raw = {}
        if "params" in query:
            raw = JSONObjectField().run_validation(query["params"])
        fields = PARAMS_SERIALIZERS.get(kind, StoryboardQuoteInputSerializer)().fields
        given = {k: v for k, v in query.items() if k in quote_param_fields()}
        if kind == Generation.Kind.STORYBOARD:
            # One by one or in `params`: the scenes' defaults.
            return self._storyboard(query, params={**given, **raw}, persona=persona)
        unknown = sorted(set(given) - set(fields))
        if unknown:
            raise serializers.ValidationError({unknown[0]: [f"{kind} takes no {unknown[0]}."]})
        raw.update(given)
        if persona is not None:
            # The persona's defaults fill what the request leaves unset, as at create.
            raw = {**params_defaults_for(PARAMS_SERIALIZERS[kind], persona.defaults), **raw}
        params = PARAMS_SERIALIZERS[kind](data=raw)
        params.is_valid(raise_exception=True)
        engine, credits = generation_quote(
            kind=kind, engine=values["engine"], params=dict(params.validated_data)
        )
        return Response({"credits": credits, "engine": engine})

    @staticmethod
    def _persona(request, query):
        """`persona=<id>`: one of the caller's personas, priced as create would use it."""
        if not query.get("persona"):
            return None
        serializer = GenerationCreateInputSerializer(context={"request": request})
        try:
            value = serializer.fields["persona"].run_validation(query["persona"])
            return serializer.validate_persona(value)
        except serializers.ValidationError as exc:
            raise serializers.ValidationError({"persona": exc.detail}) from None

    def _storyboard(self, query, *, params, persona=None):
        """`scenes` (the create body's JSON list), or `scene_count` scenes of `duration` s."""
        raw = {k: query[k] for k in STORYBOARD_QUOTE_FIELDS if k in query and k != "params"}
        raw["params"] = params
        data = StoryboardQuoteInputSerializer(data=raw)
        data.is_valid(raise_exception=True)
        plan = storyboard_quote(**data.validated_data, persona=persona)
        engines = sorted({scene.engine for scene in plan.scenes})
        return Response(
            {
                "credits": plan.total,
                "engine": engines[0] if len(engines) == 1 else "auto",
                "scenes": [scene.cost for scene in plan.scenes],
                "assembly": plan.assembly,
            }
        )


class GenerationDetailApi(APIView):
    @extend_schema(responses=GenerationOutputSerializer)
    def get(self, request, pk):
        generation = generation_get(user=request.user, generation_id=pk)
        return Response(GenerationOutputSerializer(generation, context={"request": request}).data)


class GenerationCancelApi(APIView):
    error_statuses = {"post": (409,)}  # already ended

    @extend_schema(request=None, responses=GenerationOutputSerializer)
    def post(self, request, pk):
        generation = generation_get(user=request.user, generation_id=pk)
        generation = generation_cancel(generation=generation)
        return Response(GenerationOutputSerializer(generation, context={"request": request}).data)


class GenerationRerunApi(APIView):
    """A new generation from a finished one's recipe and inputs, with optional overrides."""

    parser_classes = [JSONParser]
    # 400 bad overrides or a storyboard (`storyboard_use_retry`), 402 short credits, 409 not
    # finished / input gone / an Idempotency-Key reused with another body, 503 queue or engine
    error_statuses = {"post": (400, 402, 409, 503)}
    throttle_classes = [CreateThrottle]

    @extend_schema(
        request=RerunInputSerializer,
        responses={201: GenerationOutputSerializer, 200: GenerationOutputSerializer},
        parameters=[OpenApiParameter("Idempotency-Key", str, OpenApiParameter.HEADER)],
    )
    def post(self, request, pk):
        generation = generation_get(user=request.user, generation_id=pk)
        data = RerunInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        result = generation_rerun(
            user=request.user,
            generation=generation,
            idempotency_key=request.headers.get("Idempotency-Key", "")[:255],
            **data.validated_data,
        )
        body = GenerationOutputSerializer(result.generation, context={"request": request}).data
        return Response(
            body, status=status.HTTP_201_CREATED if result.created else status.HTTP_200_OK
        )


class GenerationSceneRetryApi(APIView):
    error_statuses = {"post": (400, 402, 409, 503)}

    @extend_schema(request=None, responses=GenerationOutputSerializer)
    def post(self, request, pk, index: int):
        generation = generation_get(user=request.user, generation_id=pk)
        generation = storyboard_scene_retry(generation=generation, index=index)
        return Response(GenerationOutputSerializer(generation, context={"request": request}).data)


class GenerationRetryApi(APIView):
    """A failed storyboard: run again what has no output (scenes, else the assembly)."""

    error_statuses = {"post": (400, 402, 409, 503)}

    @extend_schema(request=None, responses=GenerationOutputSerializer)
    def post(self, request, pk):
        generation = generation_get(user=request.user, generation_id=pk)
        generation = storyboard_retry(generation=generation)
        return Response(GenerationOutputSerializer(generation, context={"request": request}).data)


MEDIA_TYPES = {"video": "video/mp4", "thumbnail": "image/jpeg", "subtitles": "text/vtt"}


class GenerationMediaApi(APIView):
    """A generation's video or thumbnail for its owner (and staff); Range-aware.

    Authenticated like the API (token or session); anyone else gets a 404, never a 403.
    """

    permission_classes = [AllowAny]

    @extend_schema(exclude=True)
    def get(self, request, pk, name: str):
        if not request.user.is_authenticated:
            raise Http404
        generation = generation_get(user=request.user, generation_id=pk)
        field = getattr(generation, name)
        if not field or not media_exists(field.name):
            raise Http404
        # Subtitles are streamed even from S3: a <track> may not follow a cross-origin redirect.
        return _media_response(request, field.name, MEDIA_TYPES[name], redirect=name != "subtitles")


class GenerationSceneMediaApi(APIView):
    """One storyboard scene's clip, for the storyboard's owner (and staff); Range-aware."""

    permission_classes = [AllowAny]

    @extend_schema(exclude=True)
    def get(self, request, pk, index: int):
        if not request.user.is_authenticated:
            raise Http404
        generation = generation_get(user=request.user, generation_id=pk)
        scene = storyboard_scene_clip(generation=generation, index=int(index))
        if scene is None:
            raise Http404
        if not media_exists(scene.video.name):
            raise Http404
        return _media_response(request, scene.video.name, "video/mp4")


def _media_response(request, name: str, content_type: str, *, redirect: bool = True):
    response = media_response(
        request,
        name,
        content_type=content_type,
        cache_control="private, max-age=3600",
        redirect=redirect,
    )
    response["X-Robots-Tag"] = "noindex"
    return response
