"""REST API (``/api/v1``): analyse an image, health, labels and version; and what the history's
routes share (``service.history``, ``service.people``, ``service.profiles``).

Every route declares its answers (``service.schemas``) and, where one answer leads to another
operation, an OpenAPI link (a session of the list to its detail, a deleted session to the 404 it
then is): clients and schemathesis's stateful tests follow them."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from moodlens._version import __version__
from moodlens.errors import ImageError
from moodlens.images import decode_image
from moodlens.labels import CHART_COLOURS, Expression, colour_hex
from moodlens.service.app import Services, services, store_failure
from moodlens.service.schemas import (
    MAX_ID,
    AnalysisOut,
    ErrorOut,
    HealthOut,
    LabelOut,
    PersonOut,
    VersionOut,
)
from moodlens.service.uploads import BodyError, image_part, parse_multipart, read_body

__all__ = ["ErrorOut", "PersonOut", "router"]

router = APIRouter(prefix="/api/v1")

SessionId = Annotated[int, Path(ge=1, le=MAX_ID, description="a session id")]
IncludeHidden = Annotated[
    bool, Query(description="count the tracks hidden from the session (a poster, a reflection) too")
]


def link(operation_id: str, description: str, **parameters: str) -> dict[str, Any]:
    """An OpenAPI link to ``operation_id``, its parameters taken from this answer or request."""
    return {"operationId": operation_id, "parameters": parameters, "description": description}


def error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def _errors(**described: str) -> dict[int | str, dict[str, Any]]:
    """Error answers (``{"error": ...}``) by status: ``_errors(s404="no such session")``."""
    return {int(k[1:]): {"model": ErrorOut, "description": v} for k, v in described.items()}


_IMAGE = {"type": "string", "format": "binary", "description": "a JPEG, PNG, GIF, BMP, WebP, TIFF or PNM"}
_ANALYZE_BODY = {
    "requestBody": {
        "required": True,
        "description": "the image, as a form's file field named `image`, or as the whole body",
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {"image": _IMAGE},
                    "required": ["image"],
                    "maxProperties": 8,  # uploads.parse_multipart's limit of parts
                }
            },
            "image/jpeg": {"schema": _IMAGE},
            "image/png": {"schema": _IMAGE},
            "application/octet-stream": {"schema": _IMAGE},
        },
    }
}


@router.post(
    "/analyze",
    operation_id="analyzeImage",
    openapi_extra=_ANALYZE_BODY,
    summary="Faces and apparent expressions in one image",
    response_model=AnalysisOut,
    response_model_exclude_unset=True,
    responses=_errors(
        s400="not an image this server decodes (or over its pixel limit), or a form without an image",
        s413="the image is over the upload limit (10 MB by default)",
    ),
)
async def analyze(request: Request) -> Any:
    """Send an image as multipart form data (field ``image``) or as the raw request body.
    Returns the faces with boxes, landmarks, the 7 probabilities and the top label. The image
    is decoded in memory and discarded; nothing is stored."""
    svc = services(request.app)
    limit = svc.settings.max_upload_bytes
    kind = request.headers.get("content-type", "")
    try:
        body = await read_body(request, limit + 64 * 1024 if kind.startswith("multipart/") else limit)
        data = image_part(parse_multipart(body, kind)) if kind.startswith("multipart/") else body
    except BodyError as exc:
        return error(exc.status, str(exc))
    if len(data) > limit:
        return error(413, f"image over {limit} bytes")

    def work() -> Any:
        # Decoding, like the analysis, runs off the event loop: a hostile image cannot stall
        # /health or the other clients' streams.
        image = decode_image(data, name="upload", max_pixels=svc.settings.max_upload_pixels)
        return svc.analyzer.analyze(image)

    try:
        async with svc.inference:
            result = await run_in_threadpool(work)
    except ImageError as exc:
        return error(400, str(exc))
    body_out = result.to_dict()
    body_out["timings_ms"] = {k: round(v, 2) for k, v in result.timings_ms.items()}
    body_out["settings"] = analysis_settings(svc.analyzer)
    return body_out


def analysis_settings(analyzer: Any) -> dict[str, Any]:
    """What the server analyses with: the detector and its settings, and the model. The server
    starts with the live-camera defaults (faces >= 40 px, frames scanned at <= 480 px), which
    differ from ``moodlens image`` (20 px, 640 px); ``moodlens serve --min-face/--max-side`` change them."""
    detector = analyzer.detector
    settings = getattr(detector, "settings", None)
    out: dict[str, Any] = {
        "detector": getattr(detector, "name", type(detector).__name__),
        "model": analyzer.classifier.metadata.name,
        "max_faces": analyzer.max_faces,
    }
    if settings is not None:
        out.update(min_face=settings.min_face, max_side=settings.max_side, threshold=settings.threshold)
    return out


@router.get(
    "/health",
    operation_id="health",
    summary="Liveness and what is loaded",
    response_model=HealthOut,
    response_model_exclude_unset=True,
)
async def health(request: Request) -> Any:
    svc = services(request.app)
    return {
        "status": "ok",
        "detector": getattr(svc.analyzer.detector, "name", "custom"),
        "model": svc.analyzer.classifier.metadata.name,
        "settings": analysis_settings(svc.analyzer),
        "history": svc.store is not None,
        "profile": svc.settings.profile,
        "clients": svc.clients,
    }


@router.get(
    "/labels",
    operation_id="labels",
    summary="The 7 apparent expressions in canonical order, with their colours",
    response_model=list[LabelOut],
)
async def labels() -> Any:
    return [
        {
            "label": e.label,
            "display": e.display_name,
            "colour": colour_hex(e),
            "chart_colour": CHART_COLOURS[e],
        }
        for e in Expression
    ]


@router.get(
    "/version",
    operation_id="version",
    summary="Versions of moodlens and its model",
    response_model=VersionOut,
)
async def version(request: Request) -> Any:
    svc = services(request.app)
    meta = svc.analyzer.classifier.metadata
    return {
        "moodlens": __version__,
        "model": {
            "name": meta.name,
            "labels": list(meta.labels),
            "input_size": list(meta.input_size),
            "metrics": meta.metrics,
        },
        "detector": getattr(svc.analyzer.detector, "name", "custom"),
    }


# --- what the history's routes share ----------------------------------------------------------


def _store(request: Request) -> tuple[Services, Any]:
    svc = services(request.app)
    return svc, svc.store


_NO_HISTORY = "history is off: start the server with --db to record and browse sessions"


async def _call(store: Any, method: str, *args: Any, **kwargs: Any) -> Any:
    from moodlens.store import StoreError

    try:
        return await run_in_threadpool(getattr(store, method), *args, **kwargs)
    except StoreError as exc:
        return error(*store_failure(exc))
    except ValueError as exc:
        return error(400, str(exc))
