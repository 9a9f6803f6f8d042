"""Profiles over REST (``/api/v1/profiles``): list, create (with consent), show, reset, delete,
remove one sample, export. The live stream's calibrate and correct messages (service/stream.py)
add samples; these routes read and undo them. Numbers in label space only, as in the store."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field, StrictBool

from moodlens.service.api import link
from moodlens.service.app import Services, services, store_failure
from moodlens.service.schemas import MAX_ID, ErrorOut, ProfileInfoOut, ProfileOut

router = APIRouter(prefix="/api/v1/profiles")

#: Letters and digits (any script), then letters, digits, spaces, '-', '_' or '.', 1-64 of them, no
#: space at the end (``moodlens.store.profiles.check_profile_name``, which also takes the NFC form).
NAME_PATTERN = r"^[\p{L}\p{N}](?:[\p{L}\p{N}_ .\-]*[\p{L}\p{N}_.\-])?$"
ProfileName = Annotated[
    str, Path(min_length=1, max_length=64, pattern=NAME_PATTERN, description="a profile's name")
]
SampleId = Annotated[int, Path(ge=1, le=MAX_ID, description="a sample id (from the profile's samples)")]
_NO_STORE = "profiles are off: start the server with --db to keep profiles and history"
_ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorOut, "description": "profiles are off (no --db), or no such profile or sample"},
    503: {"model": ErrorOut, "description": "the history database is unavailable"},
}
_PROFILE_LINKS = {
    "GetProfile": "getProfile",
    "ResetProfile": "resetProfile",
    "ExportProfile": "exportProfile",
    "DeleteProfile": "deleteProfile",
}


def _profile_links(at: str) -> dict[str, Any]:
    return {name: link(op, "the profile", name=at) for name, op in _PROFILE_LINKS.items()}


def _with_samples(at: str) -> dict[int | str, dict[str, Any]]:
    """A profile's answer: the errors, and links to it and to its first sample."""
    sample = link(
        "removeSample",
        "its first sample",
        name=f"$response.body#{at}/name",
        sample_id="$response.body#/samples/0/id",
    )
    return {
        **_ERRORS,
        200: {"links": {**_profile_links(f"$response.body#{at}/name"), "RemoveSample": sample}},
    }


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def model_id(svc: Services) -> str:
    from moodlens.personal import model_id as identify

    return identify(svc.analyzer.classifier)


async def _call(svc: Services, method: str, *args: Any, **kwargs: Any) -> Any:
    """The store call off the event loop; an unknown name is 404, bad input 400, a down store 503."""
    from moodlens.store import StoreError

    if svc.store is None:
        return _error(404, _NO_STORE)
    try:
        return await run_in_threadpool(getattr(svc.store, method), *args, **kwargs)
    except KeyError as exc:
        return _error(404, str(exc.args[0] if exc.args else exc))
    except ValueError as exc:
        return _error(400, str(exc))
    except StoreError as exc:
        return _error(*store_failure(exc))


def describe(info: Any, samples: list[Any], model: str) -> dict[str, Any]:
    """A profile as the page shows it: its info, the fit for the server's model, its samples."""
    from moodlens.personal import Profile, Sample

    own = [s for s in samples if s.model == model]
    fitted = Profile.fit(info.name, [Sample.of(s) for s in own])
    return {
        **info.to_dict(),
        "model": model,
        "fitted": fitted.state(),
        "other_models": sorted({s.model for s in samples} - {model}),
        "samples": [s.to_dict() for s in samples],
    }


class NewProfile(BaseModel):
    """A new profile: its name, and the person's consent (JSON true; anything else is a 400)."""

    # The route refuses a missing or false consent in words (400): the schema says it is required.
    model_config = ConfigDict(json_schema_extra={"required": ["name", "consent"]})
    name: str = Field(
        min_length=1,
        max_length=64,
        pattern=NAME_PATTERN,
        description="1-64 letters, digits, spaces, '-', '_' or '.', starting with a letter or digit",
    )
    #: Only JSON true counts as consent (not "yes" or 1).
    consent: StrictBool = Field(
        default=False,
        json_schema_extra={"const": True},
        description="the person agreed to a profile of their apparent expressions being kept",
    )


@router.get(
    "",
    operation_id="listProfiles",
    summary="The profiles, with their baseline and correction counts",
    response_model=list[ProfileInfoOut],
    responses={**_ERRORS, 200: {"links": _profile_links("$response.body#/0/name")}},
)
async def list_profiles(request: Request) -> Any:
    found = await _call(services(request.app), "list_profiles")
    return found if isinstance(found, Response) else [p.to_dict() for p in found]


@router.post(
    "",
    operation_id="createProfile",
    status_code=201,
    summary="Create a profile (the person's consent is required)",
    response_model=ProfileInfoOut,
    responses={
        **_ERRORS,
        400: {"model": ErrorOut, "description": "no consent, or a name the store refuses"},
        409: {"model": ErrorOut, "description": "a profile of that name exists"},
        201: {"links": _profile_links("$response.body#/name")},
    },
)
async def create(request: Request, body: NewProfile) -> Any:
    if not body.consent:
        return _error(
            400, "a profile keeps numbers about one person's apparent expressions: their consent is required"
        )
    svc = services(request.app)
    if svc.store is not None:
        known = await _call(svc, "list_profiles")
        if not isinstance(known, Response) and any(p.name == body.name for p in known):
            return _error(409, f"a profile named {body.name!r} exists")
    created = await _call(svc, "create_profile", body.name, consent=True)
    if isinstance(created, Response):
        return created
    return JSONResponse(created.to_dict(), status_code=201)


async def _describe(svc: Services, name: str) -> Any:
    info = await _call(svc, "get_profile", name)
    if isinstance(info, Response):
        return info
    samples = await _call(svc, "profile_samples", name)
    return samples if isinstance(samples, Response) else describe(info, samples, model_id(svc))


@router.get(
    "/{name}",
    operation_id="getProfile",
    summary="A profile: baseline, corrections, last change, its samples",
    response_model=ProfileOut,
    responses=_with_samples(""),
)
async def show(request: Request, name: ProfileName) -> Any:
    return await _describe(services(request.app), name)


@router.post(
    "/{name}/reset",
    operation_id="resetProfile",
    summary="Forget the baseline and every correction; keep the profile",
    response_model=ProfileOut,
    responses=_with_samples(""),
)
async def reset(request: Request, name: ProfileName) -> Any:
    svc = services(request.app)
    done = await _call(svc, "reset_profile", name)
    return done if isinstance(done, Response) else await _describe(svc, name)


@router.delete(
    "/{name}/samples/{sample_id}",
    operation_id="removeSample",
    summary="Remove one neutral sample or correction",
    response_model=ProfileOut,
    responses=_with_samples(""),
)
async def remove_sample(request: Request, name: ProfileName, sample_id: SampleId) -> Any:
    svc = services(request.app)
    done = await _call(svc, "remove_profile_sample", name, sample_id)
    return done if isinstance(done, Response) else await _describe(svc, name)


@router.delete(
    "/{name}",
    operation_id="deleteProfile",
    status_code=204,
    response_class=Response,
    summary="Delete a profile and all it holds",
    responses={
        **_ERRORS,
        204: {
            "description": "deleted",
            "links": {"GetDeleted": link("getProfile", "now a 404", name="$request.path.name")},
        },
    },
)
async def delete(request: Request, name: ProfileName) -> Response:
    done = await _call(services(request.app), "delete_profile", name)
    return done if isinstance(done, Response) else Response(status_code=204)


@router.get(
    "/{name}/export",
    operation_id="exportProfile",
    summary="Download a profile and its samples as JSON",
    response_class=Response,
    responses={
        **_ERRORS,
        200: {
            "description": "the profile and every sample (label-space numbers only)",
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ProfileExportOut"}}},
            "headers": {
                "Content-Disposition": {
                    "description": "attachment; filename=...; filename*=UTF-8''...",
                    "schema": {"type": "string", "pattern": "^attachment; filename="},
                }
            },
        },
    },
)
async def export(request: Request, name: ProfileName) -> Response:
    text = await _call(services(request.app), "export_profile", name)
    if isinstance(text, Response):
        return text
    from urllib.parse import quote

    # RFC 6266/5987: an ASCII fallback, and the name itself percent-encoded as UTF-8.
    ascii_name = "".join(c if c.isascii() and (c.isalnum() or c in "-_.") else "_" for c in name)
    headers = {
        "content-disposition": f'attachment; filename="moodlens-profile-{ascii_name}.json"; '
        f"filename*=UTF-8''moodlens-profile-{quote(name, safe='')}.json"
    }
    return Response(text, media_type="application/json", headers=headers)
