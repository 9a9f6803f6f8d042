"""The people of a session over REST (``/api/v1/sessions/{id}/...``): list them, merge tracks into
one person, split a track back out, name a person (with consent), hide a track. Numbers only, and a
nickname only when the request says the person agreed (``moodlens.store.people``)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field, StrictBool

from moodlens.service.api import (
    _NO_HISTORY,
    ErrorOut,
    IncludeHidden,
    PersonOut,
    SessionId,
    _call,
    _store,
    error,
)

router = APIRouter(prefix="/api/v1/sessions/{session_id}")

#: Track ids and person numbers are 32-bit, as the tracker writes them.
MAX_TRACK = 2**31 - 1
#: The most tracks one merge names (a long crowd recording may have thousands).
MAX_MERGE = 10_000
Track = Annotated[int, Path(ge=0, le=MAX_TRACK, description="a track id (a tracked face)")]
Number = Annotated[int, Path(ge=0, le=MAX_TRACK, description="a person's number (its lowest track id)")]

_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorOut, "description": "bad input: fewer than two tracks, no consent, a bad nickname"},
    404: {"model": ErrorOut, "description": "history is off, or no such session, track or person"},
    503: {"model": ErrorOut, "description": "the history database is unavailable"},
}


class Merge(BaseModel):
    track_ids: list[Annotated[int, Field(ge=0, le=MAX_TRACK)]] = Field(
        min_length=2, max_length=MAX_MERGE, description="the tracks of one person (two or more)"
    )


class Nickname(BaseModel):
    nickname: str | None = Field(
        max_length=1000, description="1-64 characters; null removes the nickname (no consent needed)"
    )
    #: Only JSON true counts as consent (not "yes" or 1).
    consent: StrictBool = Field(
        default=False,
        description="the person agreed to this nickname being stored in this history database",
    )


async def _person(request: Request, method: str, session_id: int, *args: Any, **kwargs: Any) -> Any:
    _, store = _store(request)
    if store is None:
        return error(404, _NO_HISTORY)
    found = await _call(store, method, session_id, *args, **kwargs)
    return found if isinstance(found, Response) else found.to_dict()


@router.get(
    "/people",
    summary="The people of a session: tracks grouped, nicknames, summaries",
    response_model=list[PersonOut],
    responses=_ERRORS,
)
async def people(request: Request, session_id: SessionId, include_hidden: IncludeHidden = False) -> Any:
    """Each person by number (its lowest track id), with its tracks and how it looked over the
    session. A person whose tracks are all hidden is left out unless ``include_hidden``."""
    _, store = _store(request)
    if store is None:
        return error(404, _NO_HISTORY)
    found = await _call(store, "people", session_id, include_hidden=include_hidden)
    return found if isinstance(found, Response) else [p.to_dict() for p in found]


@router.post(
    "/people/merge",
    summary="Merge tracks (and the people they belong to) into one person",
    response_model=PersonOut,
    responses=_ERRORS,
)
async def merge(request: Request, session_id: SessionId, body: Merge) -> Any:
    """Idempotent: tracks already one person stay so. The person takes the lowest track's number
    and the nickname of the lowest-numbered person that had one."""
    return await _person(request, "merge_tracks", session_id, body.track_ids)


@router.post(
    "/tracks/{track_id}/split",
    summary="Undo a merge: the track becomes its own person again",
    response_model=PersonOut,
    responses=_ERRORS,
)
async def split(request: Request, session_id: SessionId, track_id: Track) -> Any:
    return await _person(request, "split_track", session_id, track_id)


@router.put(
    "/people/{number}/nickname",
    summary="Name a person (their consent required) or remove the name",
    response_model=PersonOut,
    responses=_ERRORS,
)
async def rename(request: Request, session_id: SessionId, number: Number, body: Nickname) -> Any:
    """The nickname is stored in this history database, with the session (and deleted with it),
    only when ``consent`` is true; ``{"nickname": null}`` removes it."""
    return await _person(request, "rename_person", session_id, number, body.nickname, consent=body.consent)


@router.post(
    "/tracks/{track_id}/hide",
    summary="Hide a track from the people, summaries and exports (a poster, a reflection)",
    response_model=PersonOut,
    responses=_ERRORS,
)
async def hide(request: Request, session_id: SessionId, track_id: Track) -> Any:
    return await _person(request, "hide_track", session_id, track_id, True)


@router.post(
    "/tracks/{track_id}/unhide",
    summary="Show a hidden track again",
    response_model=PersonOut,
    responses=_ERRORS,
)
async def unhide(request: Request, session_id: SessionId, track_id: Track) -> Any:
    return await _person(request, "hide_track", session_id, track_id, False)
