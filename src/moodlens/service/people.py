"""The people of a session over REST (``/api/v1/sessions/{id}/...``): list them, merge tracks into
one person, split a track back out, name a person (with consent), hide a track. Numbers only, and a
nickname only when the request says the person agreed (``moodlens.store.people``)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field, StrictBool

from moodlens.service.api import _NO_HISTORY, IncludeHidden, SessionId, _call, _store, error, link
from moodlens.service.schemas import MAX_TRACK, ErrorOut, JsonTrack, PersonOut

router = APIRouter(prefix="/api/v1/sessions/{session_id}")

#: The most tracks one merge names (a long crowd recording may have thousands): 5,000 ids of up to
#: 10 digits fit the 64 KiB a JSON body may have (a longer list would be a 413, not a 422).
MAX_MERGE = 5_000
Track = Annotated[int, Path(ge=0, le=MAX_TRACK, description="a track id (a tracked face)")]
Number = Annotated[int, Path(ge=0, le=MAX_TRACK, description="a person's number (its lowest track id)")]
#: A nickname: 1-64 characters, not only spaces, no control characters or line breaks
#: (``moodlens.store.people.check_nickname``). The classes (Cc, Zl, Zp; Zs) are spelled as code
#: points: ECMA-262, Python, Rust (Pydantic) and schemathesis all read those alike.
_NOT_CONTROL = r"\u0000-\u001f\u007f-\u009f\u2028\u2029"
_NOT_SPACE = r"\u0020\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000"
NICKNAME_PATTERN = f"^[^{_NOT_CONTROL}]*[^{_NOT_CONTROL}{_NOT_SPACE}][^{_NOT_CONTROL}]*$"

_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorOut, "description": "bad input: tracks named twice, a nickname without consent"},
    404: {"model": ErrorOut, "description": "history is off, or no such session, track or person"},
    503: {"model": ErrorOut, "description": "the history database is unavailable"},
}


def _person_links(session: str, number: str, track: str) -> dict[str, Any]:
    """Where a person of an answer leads: its first track split or hidden, the person named."""
    return {
        "SplitTrack": link("splitTrack", "the person's first track", session_id=session, track_id=track),
        "HideTrack": link("hideTrack", "the person's first track", session_id=session, track_id=track),
        "UnhideTrack": link("unhideTrack", "the person's first track", session_id=session, track_id=track),
        "RenamePerson": link("renamePerson", "the person", session_id=session, number=number),
    }


def _answers(at: str) -> dict[int | str, dict[str, Any]]:
    """The errors, and the links of a person (``at``: the JSON pointer of the person)."""
    links = _person_links(
        "$request.path.session_id", f"$response.body#{at}/number", f"$response.body#{at}/track_id"
    )
    return {**_ERRORS, 200: {"links": links}}


class Merge(BaseModel):
    track_ids: list[JsonTrack] = Field(
        min_length=2,
        max_length=MAX_MERGE,
        json_schema_extra={"uniqueItems": True},
        description="the tracks of one person (two or more, each once)",
    )


class Nickname(BaseModel):
    """A nickname is stored only with the person's consent: a string needs ``consent: true``."""

    model_config = ConfigDict(
        json_schema_extra={
            "anyOf": [
                {"properties": {"nickname": {"type": "null"}}},
                {"properties": {"consent": {"const": True}}, "required": ["consent"]},
            ]
        }
    )
    nickname: str | None = Field(
        max_length=64,
        pattern=NICKNAME_PATTERN,
        description="1-64 characters, no control characters or line breaks; null removes the nickname "
        "(no consent needed)",
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
    operation_id="listPeople",
    summary="The people of a session: tracks grouped, nicknames, summaries",
    response_model=list[PersonOut],
    responses=_answers("/0"),
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
    operation_id="mergePeople",
    summary="Merge tracks (and the people they belong to) into one person",
    response_model=PersonOut,
    responses=_answers(""),
)
async def merge(request: Request, session_id: SessionId, body: Merge) -> Any:
    """Idempotent: tracks already one person stay so. The person takes the lowest track's number
    and the nickname of the lowest-numbered person that had one."""
    return await _person(request, "merge_tracks", session_id, body.track_ids)


@router.post(
    "/tracks/{track_id}/split",
    operation_id="splitTrack",
    summary="Undo a merge: the track becomes its own person again",
    response_model=PersonOut,
    responses=_answers(""),
)
async def split(request: Request, session_id: SessionId, track_id: Track) -> Any:
    return await _person(request, "split_track", session_id, track_id)


@router.put(
    "/people/{number}/nickname",
    operation_id="renamePerson",
    summary="Name a person (their consent required) or remove the name",
    response_model=PersonOut,
    responses=_answers(""),
)
async def rename(request: Request, session_id: SessionId, number: Number, body: Nickname) -> Any:
    """The nickname is stored in this history database, with the session (and deleted with it),
    only when ``consent`` is true; ``{"nickname": null}`` removes it."""
    return await _person(request, "rename_person", session_id, number, body.nickname, consent=body.consent)


@router.post(
    "/tracks/{track_id}/hide",
    operation_id="hideTrack",
    summary="Hide a track from the people, summaries and exports (a poster, a reflection)",
    response_model=PersonOut,
    responses=_answers(""),
)
async def hide(request: Request, session_id: SessionId, track_id: Track) -> Any:
    return await _person(request, "hide_track", session_id, track_id, True)


@router.post(
    "/tracks/{track_id}/unhide",
    operation_id="unhideTrack",
    summary="Show a hidden track again",
    response_model=PersonOut,
    responses=_answers(""),
)
async def unhide(request: Request, session_id: SessionId, track_id: Track) -> Any:
    return await _person(request, "hide_track", session_id, track_id, False)
