"""The history over REST (``/api/v1``): sessions, their timelines and distributions, exports,
corrections and deletion. Labels and probabilities over time only; never a frame."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema

from moodlens.labels import LABELS
from moodlens.service.api import _NO_HISTORY, IncludeHidden, SessionId, _call, _errors, _store, error, link
from moodlens.service.contract import MomentQuery, parse_moment
from moodlens.service.schemas import (
    MAX_ID,
    MAX_TRACK,
    BucketOut,
    CorrectionCreatedOut,
    ErrorOut,
    IntervalOut,
    JsonMs,
    JsonTrack,
    SessionDetailOut,
    SessionOut,
)

router = APIRouter(prefix="/api/v1")

TrackId = Annotated[int | None, Query(ge=0, le=MAX_TRACK, description="a track id")]

_HISTORY_ERRORS = _errors(
    s404="history is off (the server runs without --db), or no such session",
    s503="the history database is unavailable (the server's log says why)",
)
#: Where a session's id leads (``at``: the runtime expression that holds it).
_SESSION_LINKS = {
    "GetSession": "getSession",
    "GetTimeline": "getTimeline",
    "ExportSession": "exportSession",
    "ListPeople": "listPeople",
    "DeleteSession": "deleteSession",
}


def _session_links(at: str) -> dict[str, Any]:
    return {name: link(op, "the session", session_id=at) for name, op in _SESSION_LINKS.items()}


def _export_answer(schema: dict[str, Any], what: str) -> dict[str, Any]:
    return {
        "description": f"{what}: JSON (format=json) or CSV (format=csv, one row per interval)",
        "content": {
            "application/json": {"schema": schema},
            "text/csv": {"schema": {"type": "string"}},
        },
        "headers": {
            "Content-Disposition": {
                "description": "attachment; filename=...",
                "schema": {"type": "string", "pattern": "^attachment; filename="},
            }
        },
    }


@router.get(
    "/sessions",
    operation_id="listSessions",
    summary="Recorded sessions, newest first",
    response_model=list[SessionOut],
    responses={**_HISTORY_ERRORS, 200: {"links": _session_links("$response.body#/0/id")}},
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
    operation_id="getSession",
    summary="One session with its distribution and its people",
    response_model=SessionDetailOut,
    responses={
        **_HISTORY_ERRORS,
        200: {
            "links": {
                **_session_links("$response.body#/id"),
                "SplitTrack": link(
                    "splitTrack",
                    "its first person's first track",
                    session_id="$response.body#/id",
                    track_id="$response.body#/people/0/track_ids/0",
                ),
                "RenamePerson": link(
                    "renamePerson",
                    "its first person",
                    session_id="$response.body#/id",
                    number="$response.body#/people/0/number",
                ),
            }
        },
    },
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
        "distribution": buckets[0].to_dict() if isinstance(buckets, list) and buckets else None,
        "people": [] if isinstance(people, Response) else [p.to_dict() for p in people],
    }


@router.get(
    "/sessions/{session_id}/timeline",
    operation_id="getTimeline",
    summary="Per-track intervals of smoothed probabilities",
    response_model=list[IntervalOut],
    responses=_HISTORY_ERRORS,
)
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


@router.get(
    "/distribution",
    operation_id="getDistribution",
    summary="Distributions and valence index per session, day or week",
    response_model=list[BucketOut],
    responses={
        **_HISTORY_ERRORS,
        400: {"model": ErrorOut, "description": "a since or until that lies outside years 1 to 9999 in UTC"},
    },
)
async def distribution(
    request: Request,
    *,
    period: Literal["session", "day", "week"] = "day",
    session_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    since: MomentQuery = None,
    until: MomentQuery = None,
    include_hidden: IncludeHidden = False,
) -> Any:
    """Days are UTC days; weeks start on Monday. ``since`` and ``until`` bound the intervals'
    wall-clock start."""
    _, store = _store(request)
    if store is None:
        return error(404, _NO_HISTORY)
    start, end = parse_moment("since", since), parse_moment("until", until)
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


@router.get(
    "/sessions/{session_id}/export",
    operation_id="exportSession",
    summary="Download a session as CSV or JSON",
    response_class=Response,
    responses={
        **_HISTORY_ERRORS,
        200: _export_answer({"$ref": "#/components/schemas/SessionExportOut"}, "the session"),
    },
)
async def export(
    request: Request,
    session_id: SessionId,
    format: Literal["csv", "json"] = Query("json"),
    include_hidden: IncludeHidden = False,
) -> Response:
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
    operation_id="deleteSession",
    status_code=204,
    response_class=Response,
    summary="Delete a session and all its data",
    responses={
        **_HISTORY_ERRORS,
        409: {"model": ErrorOut, "description": "the session is still being recorded: stop it first"},
        204: {
            "description": "deleted; its id is never used again",
            "links": {"GetDeleted": link("getSession", "now a 404", session_id="$request.path.session_id")},
        },
    },
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


_LABEL_SCHEMA = {"type": "string", "enum": list(LABELS)}
#: The right label differs from the wrong one: for each label, "if wrong is L, right is not L".
_LABELS_DIFFER: list[Any] = [
    {
        "if": {"properties": {"wrong_label": {"const": label}}, "required": ["wrong_label"]},
        "then": {"properties": {"correct_label": {"not": {"const": label}}}},
    }
    for label in LABELS
]


class Correction(BaseModel):
    """What a person says was wrong: track ``track_id`` between ``start_ms`` and ``end_ms`` (media
    time, ``end_ms >= start_ms``, overlapping what was recorded of it) was not ``wrong_label``
    (and was ``correct_label``, if given)."""

    model_config = ConfigDict(json_schema_extra={"allOf": _LABELS_DIFFER})

    track_id: JsonTrack
    start_ms: JsonMs
    end_ms: JsonMs = Field(description="at least start_ms")
    # The labels are checked by the route (a 400 in the store's words), as the schema states them.
    wrong_label: Annotated[str, WithJsonSchema(_LABEL_SCHEMA)] = Field(description="what it was not")
    correct_label: Annotated[str | None, WithJsonSchema({"anyOf": [_LABEL_SCHEMA, {"type": "null"}]})] = (
        Field(default=None, description="what it was (another label), if known")
    )
    note: str = Field(default="", max_length=2000)


@router.post(
    "/sessions/{session_id}/corrections",
    operation_id="addCorrection",
    status_code=201,
    summary='Say "that was not sad"',
    response_model=CorrectionCreatedOut,
    responses={
        **_HISTORY_ERRORS,
        400: {
            "model": ErrorOut,
            "description": "end_ms before start_ms, the same label twice, or a stretch of the track "
            "that was not recorded (the answer says what was)",
        },
    },
)
async def correct(request: Request, session_id: SessionId, body: Correction) -> Any:
    """On a session recorded with a profile, the correction may teach it (``taught_profile``)."""
    _, store = _store(request)
    if store is None:
        return error(404, _NO_HISTORY)
    for said in (body.wrong_label, body.correct_label):
        if said is not None and said not in LABELS:
            return error(400, f"unknown expression {said!r}; expected one of: {', '.join(LABELS)}")
    created = await _call(store, "add_correction", session_id, **body.model_dump())
    if isinstance(created, Response):
        return created
    info = await _call(store, "get_correction", session_id, created)
    # On a session recorded with a profile, the correction may have taught it: the reply says so.
    taught = None if isinstance(info, Response) else info.taught_profile
    return JSONResponse({"id": created, "taught_profile": taught}, status_code=201)


@router.get(
    "/export",
    operation_id="exportAll",
    summary="Download every session as CSV or JSON",
    response_class=Response,
    responses={
        **_HISTORY_ERRORS,
        200: _export_answer(
            {"type": "array", "items": {"$ref": "#/components/schemas/SessionExportOut"}}, "every session"
        ),
    },
)
async def export_all(
    request: Request, format: Literal["csv", "json"] = Query("json"), include_hidden: IncludeHidden = False
) -> Response:
    _, store = _store(request)
    if store is None:
        return error(404, _NO_HISTORY)
    text = await _call(store, "export_all", format, include_hidden=include_hidden)
    if isinstance(text, Response):
        return text
    media = "text/csv" if format == "csv" else "application/json"
    headers = {"content-disposition": f'attachment; filename="moodlens-sessions.{format}"'}
    return Response(text, media_type=media, headers=headers)
