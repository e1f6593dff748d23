"""The API reference page, rendered on the server from the OpenAPI document itself (issue 21).

No documentation bundle from a CDN (the CSP forbids it) and no script needed: the page is the
document, laid out, plus every problem `code` the API can answer with, read from the domain errors
so the list cannot drift from the code."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from netcop_hub.errors import DomainError

from .v1 import api

METHOD_ORDER = ("get", "post", "put", "patch", "delete")


@dataclass
class Param:
    name: str
    where: str
    required: bool
    type: str
    description: str = ""


@dataclass
class Operation:
    method: str
    path: str
    summary: str
    description: str
    anchor: str
    params: list[Param] = field(default_factory=list)
    body: str = ""
    # status, description, what comes back, whether that is a schema documented on the page
    responses: list[tuple[str, str, str, bool]] = field(default_factory=list)
    scope: str = ""


@dataclass
class SchemaDoc:
    name: str
    fields: list[Param]


def _type(schema: dict[str, Any]) -> str:
    if "$ref" in schema:
        return schema["$ref"].rsplit("/", 1)[-1]
    if "anyOf" in schema:
        return " | ".join(_type(s) for s in schema["anyOf"])
    if schema.get("type") == "array":
        return f"list[{_type(schema.get('items', {}))}]"
    if "enum" in schema:
        return " | ".join(repr(v) for v in schema["enum"])
    kind = schema.get("type", "object")
    return f"{kind} ({schema['format']})" if "format" in schema else kind


def _schema_name(content: dict[str, Any]) -> str:
    for media in content.values():
        return _type(media.get("schema", {}))
    return ""


def _answer(content: dict[str, Any]) -> tuple[str, bool]:
    """What an answer carries: its schema's name (linked to the page's schema list), or for a file
    (the PDF) its media type."""
    for media_type, media in content.items():
        schema = media.get("schema", {})
        if "$ref" in schema:
            return _type(schema), True
        return (_type(schema) if "json" in media_type else media_type), False
    return "", False


SCOPES = {
    "create_run": "agents:run", "cancel_run": "agents:run", "balance": "wallet:read",
    "transactions": "history:read", "runs": "history:read",
    "get_run": "history:read (or agents:run: the runs the key started)",
    "documents": "documents:read", "document_pdf": "documents:read",
}


def operations(document: dict[str, Any]) -> list[Operation]:
    found = []
    for path, methods in document["paths"].items():
        for method in METHOD_ORDER:
            op = methods.get(method)
            if op is None:
                continue
            name = op["operationId"].removeprefix("api_v1_")
            found.append(
                Operation(
                    method=method.upper(),
                    path=path,
                    summary=op.get("summary", ""),
                    description=op.get("description", ""),
                    anchor=name,
                    params=[
                        Param(p["name"], p["in"], p.get("required", False), _type(p.get("schema", {})),
                              p.get("description", "") or p.get("schema", {}).get("description", ""))
                        for p in op.get("parameters", [])
                    ],
                    body=_schema_name(op.get("requestBody", {}).get("content", {})),
                    responses=[
                        (status, answer.get("description", ""), *_answer(answer.get("content", {})))
                        for status, answer in sorted(op.get("responses", {}).items())
                    ],
                    scope=SCOPES.get(name, ""),
                )
            )
    return found


def schemas(document: dict[str, Any]) -> list[SchemaDoc]:
    docs = []
    for name, schema in sorted(document.get("components", {}).get("schemas", {}).items()):
        required = set(schema.get("required", []))
        docs.append(
            SchemaDoc(
                name=name,
                fields=[
                    Param(field_name, "", field_name in required, _type(spec), spec.get("description", ""))
                    for field_name, spec in schema.get("properties", {}).items()
                ],
            )
        )
    return docs


def problem_codes() -> list[tuple[str, int, str]]:
    """(code, status, what it means) of every domain error: the API's problem `code`s."""
    seen: dict[str, tuple[str, int, str]] = {}
    stack = [DomainError]
    while stack:
        cls = stack.pop()
        stack.extend(cls.__subclasses__())
        seen.setdefault(cls.code, (cls.code, cls.status, cls.default_message))
    return sorted(seen.values(), key=lambda row: (row[1], row[0]))


def context() -> dict[str, Any]:
    document = api.get_openapi_schema()
    return {
        "info": document["info"],
        "operations": operations(document),
        "schemas": schemas(document),
        "codes": problem_codes(),
    }
