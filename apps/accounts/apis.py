from drf_spectacular.utils import extend_schema
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.billing.selectors import credits_balance
from apps.core.throttling import AuthThrottle

from .serializers import MeOutputSerializer, TokenObtainInputSerializer, TokenOutputSerializer
from .services import token_obtain


class TokenObtainApi(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes = [AuthThrottle]  # per client address, across web processes

    @extend_schema(request=TokenObtainInputSerializer, responses=TokenOutputSerializer)
    def post(self, request):
        data = TokenObtainInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        key = token_obtain(**data.validated_data, request=request)
        return Response({"token": key})


class MeApi(APIView):
    @extend_schema(responses=MeOutputSerializer)
    def get(self, request):
        user = request.user
        body = {
            "id": user.id,
            "username": user.username,
            "email": user.email,
            "credits": credits_balance(user=user),
        }
        return Response(MeOutputSerializer(body).data)
