"""The OpenAPI schema as the server answers it (drf-spectacular).

`ApiAutoSchema` adds to every operation the error responses it can really give, each with the one
error body (`Error`: detail, code, and a 400's field errors beside them):

- 400 for a body (or the query parameters a view declares), 415 for a body of another type;
- 401 wherever a token or session is read (a wrong token is refused even where sign-in is
  optional), 403 for unsafe methods a session may call (CSRF);
- 404 for a path with an id, and for a page past the end of a paginated list;
- 429 where a throttle applies;
- what a view declares in `error_statuses` (`{"post": (402, 409, 503)}`), for the domain's own
  answers (short credits, conflicts, an unconfigured service).

It also says what the serializers enforce: a `StrictSerializer` refuses unknown keys
(`additionalProperties: false`), text may not hold NUL characters (nor be blank where it is
required), a field with `multiple_of` is a multiple of it, and a serializer's
`schema_optional_fields` may be left out of its output.

`split_json_and_multipart` (a postprocessing hook) gives a JSON request body its own component
without the file fields, which only a multipart body can carry; there the JSON-valued fields
are parts of type application/json.
"""

from __future__ import annotations

import copy

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers
from rest_framework.authentication import SessionAuthentication
from rest_framework.pagination import PageNumberPagination

from .serializers import ErrorSerializer, StrictSerializer

ERROR_DESCRIPTIONS = {
    400: "Invalid input: `detail`, `code` and the errors of each field.",
    401: "Not signed in, or the token is wrong.",
    402: "Too few credits (`code`: insufficient_credits).",
    403: "Forbidden (a session without its CSRF token, or an action this user may not take).",
    404: "No such object (or not yours), or no such page.",
    409: "Conflicts with the object's state.",
    415: "A body of a type this operation does not take.",
    429: "Too many requests; try again later.",
    503: "A service this server needs is unavailable or not configured.",
}
UNSAFE = ("POST", "PUT", "PATCH", "DELETE")
NO_NUL = r"^[^\x00]*$"
NOT_BLANK = r"^[^\x00]*[^\s\x00][^\x00]*$"


class ApiAutoSchema(AutoSchema):
    def _error_statuses(self) -> set[int]:
        view, method = self.view, self.method
        codes: set[int] = set()
        authenticators = getattr(view, "authentication_classes", [])
        if authenticators:
            codes.add(401)
            if method in UNSAFE and any(
                issubclass(a, SessionAuthentication) for a in authenticators
            ):
                codes.add(403)
        if method in ("POST", "PUT", "PATCH") and self.get_request_serializer() is not None:
            codes.update((400, 415))
        if "{" in self.path:
            codes.add(404)
        paginator = self._get_paginator()
        if self._is_list_view() and isinstance(paginator, PageNumberPagination):
            codes.add(404)
        if getattr(view, "throttle_classes", None):
            codes.add(429)
        declared = getattr(view, "error_statuses", {})
        codes.update(declared.get(method.lower(), ()))
        return codes

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        for code in sorted(self._error_statuses()):
            if str(code) not in responses:
                response = OpenApiResponse(ErrorSerializer, description=ERROR_DESCRIPTIONS[code])
                responses[str(code)] = self._get_response_for_code(
                    response, str(code), direction=direction
                )
        return responses

    def _map_serializer(self, serializer, direction, bypass_extensions=False):
        schema = super()._map_serializer(serializer, direction, bypass_extensions)
        if isinstance(serializer, ErrorSerializer):
            schema["additionalProperties"] = {}  # a 400's field errors
        elif direction == "request" and isinstance(serializer, StrictSerializer):
            schema["additionalProperties"] = False
        optional = getattr(serializer, "schema_optional_fields", ())
        if direction == "response" and optional and "required" in schema:
            schema["required"] = [name for name in schema["required"] if name not in optional]
        return schema

    def _map_serializer_field(self, field, direction, bypass_extensions=False):
        schema = super()._map_serializer_field(field, direction, bypass_extensions)
        if schema is None or direction != "request":
            return schema
        if (
            type(field) in (serializers.CharField, serializers.EmailField)
            and schema.get("type") == "string"
            and "pattern" not in schema
        ):
            blank_ok = field.allow_blank or not field.required
            if isinstance(field, serializers.CharField) and not field.allow_blank:
                blank_ok = False
            schema["pattern"] = NO_NUL if blank_ok else NOT_BLANK
        multiple_of = getattr(field, "multiple_of", None)
        if multiple_of:
            schema["multipleOf"] = multiple_of
        return schema


def split_json_and_multipart(result, generator, request, public):
    """A JSON body gets a component without the binary fields; multipart keeps them."""
    components = result.get("components", {}).get("schemas", {})
    for path in result.get("paths", {}).values():
        for operation in path.values():
            content = (operation.get("requestBody") or {}).get("content", {})
            json_body = content.get("application/json")
            if not json_body or "$ref" not in json_body.get("schema", {}):
                continue
            name = json_body["schema"]["$ref"].rsplit("/", 1)[1]
            component = components.get(name, {})
            properties = component.get("properties", {})
            binary = [k for k, v in properties.items() if _is_binary(v)]
            if binary:
                json_name = f"{name}Json"
                if json_name not in components:
                    trimmed = copy.deepcopy(component)
                    for key in binary:
                        trimmed["properties"].pop(key)
                    trimmed.pop("patternProperties", None)
                    if "required" in trimmed:
                        trimmed["required"] = [k for k in trimmed["required"] if k not in binary]
                        if not trimmed["required"]:
                            del trimmed["required"]
                    components[json_name] = trimmed
                json_body["schema"] = {"$ref": f"#/components/schemas/{json_name}"}
            multipart = content.get("multipart/form-data")
            if multipart and "$ref" in multipart.get("schema", {}):
                structured = [
                    k for k, v in properties.items() if v.get("type") in ("object", "array")
                ]
                if structured:
                    multipart["encoding"] = {
                        k: {"contentType": "application/json"} for k in structured
                    }
    return result


def _is_binary(schema: dict) -> bool:
    if schema.get("format") == "binary":
        return True
    return any(_is_binary(option) for option in schema.get("oneOf", []))
