"""What makes the OpenAPI document exact: every answer an operation can give is listed (the access
guard's and the server's refusals too), the access token is declared where this server requires
it, a 405 names every method of its path in ``Allow``, HTTP errors share the ``{"error": ...}``
shape, and dates and times are a pattern that JSON Schema states and the server checks alike.

Checked by schemathesis in CI (``.ci/run``) and by ``tests/test_contract.py``.
"""

from __future__ import annotations

import re
from collections.abc import MutableMapping
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from pydantic import WithJsonSchema
from starlette.exceptions import HTTPException
from starlette.routing import Match, Mount

from moodlens.service.schemas import ErrorOut, InvalidRequestOut, ProfileExportOut, SessionExportOut
from moodlens.service.settings import ServiceSettings

# --- dates and times -----------------------------------------------------------------------------------

_D31 = "(?:0[1-9]|[12][0-9]|3[01])"
_D30 = "(?:0[1-9]|[12][0-9]|30)"
_D28 = "(?:0[1-9]|1[0-9]|2[0-8])"
_MONTH_DAY = f"(?:(?:0[13578]|1[02])-{_D31}|(?:0[469]|11)-{_D30}|02-{_D28})"
#: Years 0001-9999.
_YEAR = "(?:000[1-9]|(?:00[1-9]|0[1-9][0-9]|[1-9][0-9]{2})[0-9])"
#: Leap years: divisible by 4, centuries only when divisible by 400.
_LEAP = "(?:[0-9]{2}(?:0[48]|[2468][048]|[13579][26])|(?:0[48]|[2468][048]|[13579][26])00)"
_DATE = f"(?:{_YEAR}-{_MONTH_DAY}|{_LEAP}-02-29)"
#: Years 0002-9998, and the days of 0001 and 9999 but their first and last.
_MIDDLE_YEAR = "(?:000[2-9]|(?:00[1-9]|0[1-9][0-9]|[1-8][0-9]{2}|9[0-8][0-9]|99[0-8])[0-9]|999[0-8])"
_AFTER_FIRST = (
    f"0001-(?:01-(?:0[2-9]|[12][0-9]|3[01])|(?:0[3578]|1[02])-{_D31}|(?:0[469]|11)-{_D30}|02-{_D28})"
)
_BEFORE_LAST = f"9999-(?:(?:0[13578]|10)-{_D31}|12-(?:0[1-9]|[12][0-9]|30)|(?:0[469]|11)-{_D30}|02-{_D28})"
_TIME = "(?:[01][0-9]|2[0-3]):[0-5][0-9](?::[0-5][0-9](?:\\.[0-9]{1,6})?)?"
_HOURS = "(?:[01][0-9]|2[0-3]):[0-5][0-9]"
_ZONE = f"(?:Z|[+-]{_HOURS})"
_DATE_TIME = (
    f"(?:(?:{_MIDDLE_YEAR}-{_MONTH_DAY}|{_LEAP}-02-29|{_AFTER_FIRST}|{_BEFORE_LAST})T{_TIME}{_ZONE}?"
    # A zone that moves the first day back, or the last day on, would leave years 1-9999.
    f"|0001-01-01T{_TIME}(?:Z|-{_HOURS}|\\+00:00)?"
    f"|9999-12-31T{_TIME}(?:Z|\\+{_HOURS}|-00:00)?)"
)
#: A date, or a date and time with an optional zone, that lies in years 1 to 9999 in UTC: the
#: ECMA-262 pattern of the OpenAPI document, and what the server accepts (nothing else).
MOMENT_PATTERN = f"^(?:{_DATE}|{_DATE_TIME})$"
_MOMENT = re.compile(MOMENT_PATTERN.removeprefix("^").removesuffix("$"))

MomentQuery = Annotated[
    str | None,
    WithJsonSchema(
        {
            "type": "string",
            "pattern": MOMENT_PATTERN,
            "description": "ISO 8601: YYYY-MM-DD, or YYYY-MM-DDTHH:MM[:SS[.ffffff]] with Z or +HH:MM "
            "(without one: UTC). It must lie in years 1 to 9999 in UTC.",
            "examples": ["2026-05-01", "2026-05-01T09:30:00Z", "2026-05-01T11:30+02:00"],
        }
    ),
]


def parse_moment(name: str, value: str | None) -> datetime | JSONResponse | None:
    """``value`` as an aware UTC datetime. Anything but ``MOMENT_PATTERN`` is refused: 400 for a
    moment that lies outside years 1 to 9999 once in UTC (0001-01-01T00:00+14:00 is in year 0),
    422 for the rest (``0.5`` is not a date, though Pydantic reads it as a Unix time)."""
    if value is None:
        return None
    if _MOMENT.fullmatch(value):
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)
    try:
        moment = datetime.fromisoformat(value)
        (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)
    except OverflowError:
        return JSONResponse(
            {"error": f"{name}={value} lies outside years 1 to 9999 once in UTC: give it in UTC"},
            status_code=400,
        )
    except ValueError:
        pass
    raise RequestValidationError(
        [
            {
                "type": "datetime_format",
                "loc": ("query", name),
                "msg": "expected YYYY-MM-DD or YYYY-MM-DDTHH:MM[:SS[.ffffff]] with Z or +HH:MM "
                "(on 0001-01-01 no positive offset, on 9999-12-31 no negative one)",
                "input": value,
            }
        ]
    )


# --- HTTP errors -------------------------------------------------------------------------------------


_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")


def allowed_methods(app: Any, scope: MutableMapping[str, Any]) -> list[str]:
    """Every method some route of this request's path answers (each asked of the router as the
    same request with that method: FastAPI nests included routers)."""
    routes = [r for r in app.router.routes if not isinstance(r, Mount)]
    return [
        method
        for method in _METHODS
        if any(route.matches({**scope, "method": method})[0] is Match.FULL for route in routes)
    ]


async def http_error(request: Request, exc: Exception) -> JSONResponse:
    """Starlette's HTTP errors in the API's shape. A 405 lists in ``Allow`` the methods of every
    route of the path (Starlette named only those of the first route that matched: GET, not DELETE)."""
    assert isinstance(exc, HTTPException)
    headers = {k: v for k, v in (exc.headers or {}).items() if k.lower() != "allow"}
    if exc.status_code == 405:
        given = next((v for k, v in (exc.headers or {}).items() if k.lower() == "allow"), "GET, HEAD")
        allowed = allowed_methods(request.app, request.scope) or given.split(", ")  # static files
        headers["Allow"] = ", ".join(allowed)
        message = f"{request.method} is not allowed here: use {', '.join(allowed)}"
    elif exc.status_code == 404 and exc.detail == "Not Found":  # Starlette's own: no route
        message = "no such page or API route (the API is under /api/v1; /docs lists it)"
    else:
        message = str(exc.detail)
    return JSONResponse({"error": message}, status_code=exc.status_code, headers=headers)


# --- the OpenAPI document ----------------------------------------------------------------------------

_ERROR = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorOut"}}}
_UNSAFE = ("post", "put", "patch", "delete")
_SECURITY_SCHEMES = {
    "bearer": {"type": "http", "scheme": "bearer", "description": "Authorization: Bearer TOKEN"},
    "header": {"type": "apiKey", "in": "header", "name": "X-Moodlens-Token"},
    "cookie": {"type": "apiKey", "in": "cookie", "name": "moodlens_token", "description": "set by ?token="},
    "query": {"type": "apiKey", "in": "query", "name": "token", "description": "once, to set the cookie"},
}


def _guard_responses(method: str, has_body: bool, settings: ServiceSettings) -> dict[str, str]:
    """What the access guard and the server may answer before (or instead of) the route."""
    out: dict[str, str] = {}
    if settings.loopback:
        out["400"] = "a Host header that is not this server's (DNS rebinding), or a malformed request"
    if settings.token is not None:
        out["401"] = "missing or wrong access token"
    if method in _UNSAFE:
        out["403"] = "a cross-site request (a browser's Origin or Sec-Fetch-Site says another site)"
    if has_body:
        out["408"] = "the request body did not arrive in time"
        out["413"] = "the request body is over the limit"
    out["503"] = "the server is at its connection limit (retry after 1 s)"
    return out


def openapi_document(app: FastAPI, settings: ServiceSettings) -> dict[str, Any]:
    """FastAPI's document, completed: the guard's answers on every operation, our 422 shape, and
    the access token as security where this server requires it."""
    doc = get_openapi(
        title=app.title,
        version=app.version,
        description=app.description,
        routes=app.routes,
    )
    schemas = doc.setdefault("components", {}).setdefault("schemas", {})
    # Answers sent as text (the exports) and our 422, which FastAPI does not know as models.
    for model in (ErrorOut, InvalidRequestOut, SessionExportOut, ProfileExportOut):
        found = model.model_json_schema(ref_template="#/components/schemas/{model}", mode="serialization")
        for name, schema in found.pop("$defs", {}).items():
            schemas.setdefault(name, schema)
        schemas[model.__name__] = found
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    if settings.token is not None:
        doc["components"]["securitySchemes"] = _SECURITY_SCHEMES
        doc["security"] = [{name: []} for name in _SECURITY_SCHEMES]
    for path_item in doc["paths"].values():
        for method, operation in path_item.items():
            responses = operation.setdefault("responses", {})
            if "422" in responses:
                responses["422"] = {
                    "description": "a parameter or body the schema refuses",
                    "content": {
                        "application/json": {"schema": {"$ref": "#/components/schemas/InvalidRequestOut"}}
                    },
                }
            for status, description in _guard_responses(method, "requestBody" in operation, settings).items():
                responses.setdefault(status, {"description": description, "content": _ERROR})
    return doc


def install(app: FastAPI, settings: ServiceSettings) -> None:
    """Serve the completed document at /openapi.json, and answer HTTP errors in the API's shape."""
    app.add_exception_handler(HTTPException, http_error)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = openapi_document(app, settings)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
