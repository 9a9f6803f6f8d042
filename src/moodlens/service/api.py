"""REST API (``/api/v1``): analyse an image, health and version, and the history endpoints."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from moodlens._version import __version__
from moodlens.errors import ImageError
from moodlens.images import decode_image
from moodlens.labels import CHART_COLOURS, Expression, colour_hex
from moodlens.service.app import Services, services, store_failure
from moodlens.service.uploads import BodyError, image_part, parse_multipart, read_body

router = APIRouter(prefix="/api/v1")

#: Ids are rows of the database: 1 to the largest signed 64-bit integer.
MAX_ID = 2**63 - 1
SessionId = Annotated[int, Path(ge=1, le=MAX_ID, description="a session id")]
TrackId = Annotated[int | None, Query(ge=0, le=2**31 - 1, description="a track id")]
IncludeHidden = Annotated[
    bool, Query(description="count the tracks hidden from the session (a poster, a reflection) too")
]


class ErrorOut(BaseModel):
    """What every refusal carries: one sentence for a person."""

    error: str


class PersonOut(BaseModel):
    """A person of a session: its tracks, its nickname (stored only with consent), and how it
    looked over the session (``moodlens.summary``'s rule over its tracks). The figures are absent
    when every track of the person is hidden."""

    # The summary's figures pass through as moodlens.summary gives them, new ones included.
    model_config = ConfigDict(extra="allow")

    number: int = Field(description="the person's number: its lowest track id")
    label: str = Field(description='the nickname, else "Person N"')
    nickname: str | None
    track_ids: list[int] = Field(
        description="the tracks that count (visible ones, unless hidden ones were asked)"
    )
    hidden_track_ids: list[int]
    hidden: bool = Field(description="every track of the person is hidden")
    source: Literal["auto", "linked", "user"] = Field(
        description="who grouped its tracks: a user, automatic linking, or nobody (as recorded)"
    )
    track_id: int = Field(
        description="the person's number again, for clients written when a person was one track"
    )
    first_ms: float | None = None
    last_ms: float | None = None
    frames: int | None = None
    duration_ms: float | None = Field(default=None, description="time analysed, in media time")
    analysed_ms: float | None = None
    on_screen_ms: float | None = Field(default=None, description="time on screen, where it is known")
    dominant: str | None = Field(default=None, description="the expression shown longest")
    dominant_text: str | None = Field(
        default=None, description="the dominant expression in words, near ties said"
    )
    runner_up: str | None = None
    near_tie: bool | None = None
    valence: float | None = None
    shares: dict[str, float] | None = Field(
        default=None, description="share of time each expression was shown"
    )
    mean_probabilities: dict[str, float] | None = None


class _SessionFields(BaseModel):
    model_config = ConfigDict(extra="allow")

    id: int
    name: str
    source: str
    started_at: str = Field(description="ISO 8601, UTC")
    ended_at: str | None
    consent_given: bool
    consent_at: str | None
    frame_rows: bool
    tracks: int = Field(description="every track recorded, hidden ones included")
    hidden_tracks: int = Field(description="tracks hidden from the people, summaries and exports")
    intervals: int
    frames: int
    media_ms: int | None = Field(description="the recording's length in media time")
    interrupted: bool
    profile: str | None
    model: str | None


class SessionOut(_SessionFields):
    people: int = Field(description="the people its visible tracks make (a track on its own is one person)")


class SessionDetailOut(_SessionFields):
    distribution: dict[str, Any] | None = Field(
        description="the share of time per expression, the valence index"
    )
    people: list[PersonOut] = Field(description="its people (their number is the session's people count)")


def _utc(moment: datetime | None) -> datetime | None:
    """Dates and times without a time zone are UTC (documented in docs/web.md)."""
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)


def _in_utc(name: str, moment: datetime | None) -> datetime | JSONResponse | None:
    """``moment`` in UTC, or a 400 when UTC cannot hold it (0001-01-01T00:00+14:00 is in year 0)."""
    moment = _utc(moment)
    if moment is None:
        return None
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        return error(400, f"{name}={moment.isoformat()} lies outside years 1 to 9999 once in UTC")


def error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


_ANALYZE_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {"type": "object", "properties": {"image": {"type": "string", "format": "binary"}}}
            },
            "image/jpeg": {"schema": {"type": "string", "format": "binary"}},
            "image/png": {"schema": {"type": "string", "format": "binary"}},
            "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
        },
    }
}


@router.post("/analyze", openapi_extra=_ANALYZE_BODY, summary="Faces and apparent expressions in one image")
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


@router.get("/health", summary="Liveness and what is loaded")
async def health(request: Request) -> dict[str, Any]:
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


@router.get("/labels", summary="The 7 apparent expressions in canonical order, with their colours")
async def labels() -> list[dict[str, str]]:
    return [
        {
            "label": e.label,
            "display": e.display_name,
            "colour": colour_hex(e),
            "chart_colour": CHART_COLOURS[e],
        }
        for e in Expression
    ]


@router.get("/version", summary="Versions of moodlens and its model")
async def version(request: Request) -> dict[str, Any]:
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


# --- history ----------------------------------------------------------------------------------


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


_HISTORY_ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorOut, "description": "history is off, or no such session"},
    503: {"model": ErrorOut, "description": "the history database is unavailable"},
}


@router.get(
    "/sessions",
    summary="Recorded sessions, newest first",
    response_model=list[SessionOut],
    responses=_HISTORY_ERRORS,
)
async def sessions(request: Request) -> Any:
    """Each session with its counts: ``people`` (what its visible tracks make) and ``tracks``
    (every track recorded, ``hidden_tracks`` of them hidden)."""
    _, store = _store(request)
    if store is None:
        return error(404, _NO_HISTORY)
    found = await _call(store, "list_sessions")
    return found if isinstance(found, Response) else [s.to_dict() for s in found]


@router.get(
    "/sessions/{session_id}",
    summary="One session with its distribution and its people",
    response_model=SessionDetailOut,
    responses=_HISTORY_ERRORS,
)
async def session(request: Request, session_id: SessionId) -> Any:
    """The session, its distribution (share of time per shown expression) and, per person (one
    track, or tracks merged into one person), time on screen, shares, dominant expression and
    valence index (``moodlens.summary``). Hidden tracks are left out."""
    _, store = _store(request)
    if store is None:
        return error(404, _NO_HISTORY)
    info = await _call(store, "get_session", session_id)
    if isinstance(info, Response):
        return info
    buckets = await _call(store, "distribution", period="session", session_id=session_id)
    people = await _call(store, "people", session_id)
    return {
        **info.to_dict(),
        "distribution": buckets[0].to_dict() if buckets else None,
        "people": [] if isinstance(people, Response) else [p.to_dict() for p in people],
    }


@router.get("/sessions/{session_id}/timeline", summary="Per-track intervals of smoothed probabilities")
async def timeline(
    request: Request, session_id: SessionId, track: TrackId = None, include_hidden: IncludeHidden = False
) -> Any:
    """Each interval of each track, with the person the track belongs to (``person``). Hidden
    tracks are left out unless ``include_hidden``, or asked for by ``track``."""
    _, store = _store(request)
    if store is None:
        return error(404, _NO_HISTORY)
    found = await _call(store, "timeline", session_id, track, include_hidden=include_hidden)
    return found if isinstance(found, Response) else [i.to_dict() for i in found]


@router.get("/distribution", summary="Distributions and valence index per session, day or week")
async def distribution(
    request: Request,
    *,
    period: Literal["session", "day", "week"] = "day",
    session_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    since: Annotated[datetime | None, Query(description="ISO 8601; without a time zone, UTC")] = None,
    until: Annotated[datetime | None, Query(description="ISO 8601; without a time zone, UTC")] = None,
    include_hidden: IncludeHidden = False,
) -> Any:
    _, store = _store(request)
    if store is None:
        return error(404, _NO_HISTORY)
    start, end = _in_utc("since", since), _in_utc("until", until)
    for bad in (start, end):
        if isinstance(bad, Response):
            return bad
    found = await _call(
        store,
        "distribution",
        period=period,
        session_id=session_id,
        since=start,
        until=end,
        include_hidden=include_hidden,
    )
    return found if isinstance(found, Response) else [b.to_dict() for b in found]


@router.get("/sessions/{session_id}/export", summary="Download a session as CSV or JSON")
async def export(
    request: Request,
    session_id: SessionId,
    format: Literal["csv", "json"] = Query("json"),
    include_hidden: IncludeHidden = False,
) -> Any:
    """The session's intervals, each with its track and person (CSV: ``person`` and ``nickname``
    columns), its people and corrections (JSON). Hidden tracks are left out unless ``include_hidden``."""
    _, store = _store(request)
    if store is None:
        return error(404, _NO_HISTORY)
    text = await _call(store, "export", session_id, format, include_hidden=include_hidden)
    if isinstance(text, Response):
        return text
    media = "text/csv" if format == "csv" else "application/json"
    headers = {"content-disposition": f'attachment; filename="moodlens-session-{session_id}.{format}"'}
    return Response(text, media_type=media, headers=headers)


@router.delete(
    "/sessions/{session_id}",
    status_code=204,
    response_class=Response,
    summary="Delete a session and all its data",
)
async def delete(request: Request, session_id: SessionId) -> Response:
    _, store = _store(request)
    if store is None:
        return error(404, _NO_HISTORY)
    owner = await _call(store, "recording", session_id)
    if isinstance(owner, Response):
        return owner
    if owner is not None:
        # Deleting it would pull the rows from under its recorder (the live page, or a CLI run).
        return error(409, f"session {session_id} is still being recorded: stop it first")
    done = await _call(store, "delete_session", session_id)
    return done if isinstance(done, Response) else Response(status_code=204)


class Correction(BaseModel):
    track_id: int = Field(ge=0, le=2**31 - 1)
    start_ms: int = Field(ge=0, le=MAX_ID)
    end_ms: int = Field(ge=0, le=MAX_ID)
    wrong_label: str
    correct_label: str | None = None
    note: str = Field(default="", max_length=2000)


@router.post("/sessions/{session_id}/corrections", status_code=201, summary='Say "that was not sad"')
async def correct(request: Request, session_id: SessionId, body: Correction) -> Any:
    _, store = _store(request)
    if store is None:
        return error(404, _NO_HISTORY)
    created = await _call(store, "add_correction", session_id, **body.model_dump())
    if isinstance(created, Response):
        return created
    info = await _call(store, "get_correction", session_id, created)
    # On a session recorded with a profile, the correction may have taught it: the reply says so.
    taught = None if isinstance(info, Response) else info.taught_profile
    return JSONResponse({"id": created, "taught_profile": taught}, status_code=201)


@router.get("/export", summary="Download every session as CSV or JSON")
async def export_all(
    request: Request, format: Literal["csv", "json"] = Query("json"), include_hidden: IncludeHidden = False
) -> Any:
    _, store = _store(request)
    if store is None:
        return error(404, _NO_HISTORY)
    text = await _call(store, "export_all", format, include_hidden=include_hidden)
    if isinstance(text, Response):
        return text
    media = "text/csv" if format == "csv" else "application/json"
    headers = {"content-disposition": f'attachment; filename="moodlens-sessions.{format}"'}
    return Response(text, media_type=media, headers=headers)
