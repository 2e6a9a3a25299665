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
        if direction == "request":
            for name, field in schema.get("properties", {}).items():
                schema["properties"][name] = _blank_once(field)
            constraints = _cross_field_constraints(serializer)
            if constraints:
                # Placed by split_json_and_multipart: on a JSON body, not beside files (a fuzzer
                # judges a combinator on the whole body, which it cannot do with files in it).
                schema["x-constraints"] = constraints
            nullable_files = []
            for name, field in schema.get("properties", {}).items():
                if _is_binary(field) and field.pop("nullable", False):
                    nullable_files.append(name)  # a multipart part cannot be null
            if nullable_files:
                schema["x-nullable-files"] = nullable_files
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
        if isinstance(field, serializers.ListSerializer) and schema.get("type") == "array":
            if not field.allow_empty:
                schema["minItems"] = max(schema.get("minItems", 0), 1)
            if field.max_length is not None:
                schema["maxItems"] = field.max_length
        multiple_of = getattr(field, "multiple_of", None)
        if multiple_of:
            schema["multipleOf"] = multiple_of
        return schema


def _blank_once(schema: dict) -> dict:
    """drf-spectacular offers a blank string beside a pattern as a second `oneOf` option; where
    the pattern takes "" already, "" would match both (and so neither): keep the one."""
    options = schema.get("oneOf", [])
    if (
        len(options) == 2
        and options[1] == {"type": "string", "maxLength": 0}
        and options[0].get("pattern") == NO_NUL
        and not {"format", "minLength"} & set(options[0])
    ):
        merged = {k: v for k, v in schema.items() if k != "oneOf"}
        return {**options[0], **merged}
    return schema


def _cross_field_constraints(serializer) -> list[dict]:
    """What a serializer checks across its fields, from three class attributes:
    `schema_requires` ({field: other}: `field` only beside a non-empty `other`),
    `schema_one_of_required` (exactly one of these fields), `schema_constraints` (schemas as
    they are), and `schema_file_or`
    ((file, other): the file or the other field; a JSON body has no files, so there `other` is
    required, see split_json_and_multipart)."""
    constraints = []
    for name, needed in getattr(serializer, "schema_requires", {}).items():
        constraints.append(
            {
                "anyOf": [
                    {"not": {"required": [name]}},
                    {"required": [needed], "properties": {needed: {"minLength": 1}}},
                ]
            }
        )
    one_of = getattr(serializer, "schema_one_of_required", ())
    if one_of:
        # (anyOf of exclusive options, not oneOf: the same, and fuzzers draw it without
        # validating a multipart body's files against every option)
        constraints.append(
            {
                "anyOf": [
                    {
                        "required": [name],
                        "not": {"anyOf": [{"required": [o]} for o in one_of if o != name]},
                    }
                    for name in one_of
                ]
            }
        )
    constraints.extend(copy.deepcopy(getattr(serializer, "schema_constraints", [])))
    file_or = getattr(serializer, "schema_file_or", None)
    if file_or:
        upload, other = file_or
        constraints.append(
            {
                "anyOf": [
                    {"required": [upload]},
                    {"required": [other], "properties": {other: {"type": "string"}}},
                ]
            }
        )
    return constraints


def _json_component(component: dict, binary: list[str]) -> dict:
    """A request component without its file fields; a constraint that offered a file or
    another field leaves the other field required."""
    trimmed = copy.deepcopy(component)
    nullable = trimmed.pop("x-nullable-files", [])
    for key in binary:
        field = trimmed["properties"].pop(key)
        if key in nullable:  # in JSON, null removes the file
            trimmed["properties"][key] = {
                "type": "string",
                "nullable": True,
                "enum": [None],
                "description": "null: none (a JSON body carries no file; send the file as "
                "multipart)",
            }
    trimmed.pop("patternProperties", None)
    kept = []
    for constraint in trimmed.pop("x-constraints", []):
        options = constraint.get("anyOf", [])
        if any(set(option.get("required", ())) & set(binary) for option in options):
            rest = [o for o in options if not set(o.get("required", ())) & set(binary)]
            for option in rest:
                for name in option.get("required", ()):
                    if name not in trimmed.setdefault("required", []):
                        trimmed["required"].append(name)
                for name, extra in option.get("properties", {}).items():
                    field = trimmed["properties"][name]
                    field.update(extra)
                    field.pop("nullable", None)
            continue
        kept.append(constraint)
    if kept:
        trimmed["allOf"] = kept
    if "required" in trimmed:
        trimmed["required"] = [k for k in trimmed["required"] if k not in binary]
        if not trimmed["required"]:
            del trimmed["required"]
    return trimmed


def _binary_fields(component: dict) -> list[str]:
    return [k for k, v in component.get("properties", {}).items() if _is_binary(v)]


def _json_variant(components: dict, name: str) -> str | None:
    """The name of `name`'s component for a JSON body, made if needed; None if it has no files.
    A oneOf of components (a body per kind) gets a oneOf of their JSON variants."""
    component = components.get(name, {})
    if "oneOf" in component and "discriminator" in component:
        members = [ref["$ref"].rsplit("/", 1)[1] for ref in component["oneOf"]]
        variants = {member: _json_variant(components, member) or member for member in members}
        if all(variants[m] == m for m in members):
            return None
        json_name = f"{name}Json"
        if json_name not in components:
            union = copy.deepcopy(component)
            union["oneOf"] = [{"$ref": f"#/components/schemas/{variants[m]}"} for m in members]
            mapping = union.get("discriminator", {}).get("mapping", {})
            for key, ref in mapping.items():
                member = ref.rsplit("/", 1)[1]
                mapping[key] = f"#/components/schemas/{variants.get(member, member)}"
            components[json_name] = union
        return json_name
    binary = _binary_fields(component)
    if not binary:
        return None
    json_name = f"{name}Json"
    if json_name not in components:
        components[json_name] = _json_component(component, binary)
    return json_name


def _structured_fields(components: dict, name: str) -> list[str]:
    component = components.get(name, {})
    if "oneOf" in component and "discriminator" in component:
        names: list[str] = []
        for ref in component["oneOf"]:
            for field in _structured_fields(components, ref["$ref"].rsplit("/", 1)[1]):
                if field not in names:
                    names.append(field)
        return names

    def structured(schema: dict) -> bool:
        for option in [schema, *schema.get("allOf", []), *schema.get("oneOf", [])]:
            if "$ref" in option:
                option = components.get(option["$ref"].rsplit("/", 1)[1], {})
            if option.get("type") in ("object", "array"):
                return True
        return False

    return [k for k, v in component.get("properties", {}).items() if structured(v)]


def split_json_and_multipart(result, generator, request, public):
    """A JSON body gets a component without the binary fields; multipart keeps them.

    A body per kind (a oneOf with a discriminator) gets a oneOf of the kinds' JSON bodies.
    Cross-field rules (`x-constraints` from ApiAutoSchema) go on the JSON body as `allOf`, and
    on a multipart body only where it has no files."""
    components = result.get("components", {}).get("schemas", {})
    for path in result.get("paths", {}).values():
        for operation in path.values():
            content = (operation.get("requestBody") or {}).get("content", {})
            json_body = content.get("application/json")
            if not json_body or "$ref" not in json_body.get("schema", {}):
                continue
            name = json_body["schema"]["$ref"].rsplit("/", 1)[1]
            if "oneOf" in components.get(name, {}):  # a body per kind: each names its kind
                operation["requestBody"]["required"] = True
            json_name = _json_variant(components, name)
            if json_name:
                json_body["schema"] = {"$ref": f"#/components/schemas/{json_name}"}
            multipart = content.get("multipart/form-data")
            if multipart and "$ref" in multipart.get("schema", {}):
                structured = _structured_fields(components, name)
                if structured:
                    multipart["encoding"] = {
                        k: {"contentType": "application/json"} for k in structured
                    }
    for component in components.values():
        component.pop("x-nullable-files", None)
        constraints = component.pop("x-constraints", None)
        if constraints and not _binary_fields(component):  # no files: one body for both
            component["allOf"] = [*component.get("allOf", []), *constraints]
    return result


def _is_binary(schema: dict) -> bool:
    if schema.get("format") == "binary":
        return True
    return any(_is_binary(option) for option in schema.get("oneOf", []))
