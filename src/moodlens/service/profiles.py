"""Profiles over REST (``/api/v1/profiles``): list, create (with consent), show, reset, delete,
remove one sample, export. The live stream's calibrate and correct messages (service/stream.py)
add samples in server mode; in browser mode the live page analyses its own camera, adds samples
with ``POST /{name}/samples`` (the readings of its own engine) and reads the fit it applies in
the page with ``GET /{name}/fit?reader=browser``. Numbers in label space only, as in the store."""

from __future__ import annotations

import unicodedata
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field, StrictBool

from moodlens.service.api import link
from moodlens.service.app import Services, services, store_failure
from moodlens.service.schemas import (
    MAX_ID,
    ErrorOut,
    Label,
    ProfileFitOut,
    ProfileInfoOut,
    ProfileOut,
    SampleAddedOut,
)

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
    """The store call off the event loop; an unknown name is 404, a name taken 409 (a profile
    made by another request between a check and the insert), bad input 400, a down store 503."""
    from moodlens.store import StoreError
    from moodlens.store.profiles import ProfileExistsError

    if svc.store is None:
        return _error(404, _NO_STORE)
    try:
        return await run_in_threadpool(getattr(svc.store, method), *args, **kwargs)
    except KeyError as exc:
        return _error(404, str(exc.args[0] if exc.args else exc))
    except ProfileExistsError as exc:
        return _error(409, str(exc))
    except ValueError as exc:
        return _error(400, str(exc))
    except StoreError as exc:
        return _error(*store_failure(exc))


#: Whose readings a sample holds, and which fit is wanted: the server's classifier, or the live
#: page's in-browser engine (browser mode runs the shipped default model whatever the server runs).
Reader = Literal["server", "browser"]
ReaderQuery = Annotated[
    Reader,
    Query(description="whose readings: this server's classifier, or the live page's in-browser engine"),
]
#: A sample's readings: up to 10 s of a camera at 30 frames/s.
MAX_READINGS = 300
#: How far a reading's 7 probabilities may sum from 1 (a page rounds each to 6 digits).
SUM_TOLERANCE = 1e-3


async def reader_model(svc: Services, reader: Reader) -> str:
    """The model id samples of ``reader`` are stored under."""
    if reader == "browser":
        from moodlens.service.models_route import engine_model_id

        return await run_in_threadpool(engine_model_id)
    return model_id(svc)


def fit_of(info: Any, samples: list[Any], model: str, reader: Reader) -> dict[str, Any]:
    """The profile fitted from ``model``'s samples: its state and the numbers the page applies."""
    from moodlens.personal import Profile, Sample

    fitted = Profile.fit(info.name, [Sample.of(s) for s in samples if s.model == model])
    return {
        "name": info.name,
        "profile_id": info.id,
        "reader": reader,
        "model": model,
        "fitted": fitted.state(),
        "numbers": fitted.wire(),
    }


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
        409: {"model": ErrorOut, "description": "a profile of that name exists (in any case)"},
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
        wanted = unicodedata.normalize("NFC", body.name).casefold()
        same = [] if isinstance(known, Response) else [p.name for p in known if p.name.casefold() == wanted]
        if same:  # in any case: "ann" and "Ann" would be one person's two profiles
            return _error(409, f"a profile named {same[0]!r} exists")
    created = await _call(svc, "create_profile", body.name, consent=True)
    if isinstance(created, Response):
        return created
    return JSONResponse(created.to_dict(), status_code=201)


async def _read(svc: Services, name: str) -> Any:
    """The profile's info and samples, or the refusal (a Response) of whichever read failed."""
    info = await _call(svc, "get_profile", name)
    if isinstance(info, Response):
        return info
    samples = await _call(svc, "profile_samples", name)
    return samples if isinstance(samples, Response) else (info, samples)


async def _describe(svc: Services, name: str) -> Any:
    read = await _read(svc, name)
    if isinstance(read, Response):
        return read
    info, samples = read
    return describe(info, samples, model_id(svc))


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


@router.get(
    "/{name}/fit",
    operation_id="getProfileFit",
    summary="The profile fitted for a model: what the live page applies in browser mode",
    response_model=ProfileFitOut,
    responses=_ERRORS,
)
async def fit(request: Request, name: ProfileName, reader: ReaderQuery = "server") -> Any:
    svc = services(request.app)
    read = await _read(svc, name)
    if isinstance(read, Response):
        return read
    info, samples = read
    return fit_of(info, samples, await reader_model(svc, reader), reader)


Reading = Annotated[
    list[Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]],
    Field(min_length=7, max_length=7, description="7 probabilities in canonical label order, summing to 1"),
]


class NewReadings(BaseModel):
    """Readings of one person's face to keep as one sample (their geometric mean): ``neutral``
    (the face at rest; no label) or a ``correction`` naming what it was (``label``) or was not
    (``not_label``), exactly one of the two."""

    model_config = ConfigDict(extra="forbid")
    kind: Literal["neutral", "correction"]
    readings: list[Reading] = Field(min_length=1, max_length=MAX_READINGS)
    label: Label | None = Field(default=None, description="a correction: what it was")
    not_label: Label | None = Field(default=None, description="a correction: what it was not")
    reader: Reader = Field(default="browser", description="whose readings these are")
    source: str = Field(default="", max_length=200, description="where they came from, in words")
    profile_id: int | None = Field(
        default=None,
        ge=1,
        le=MAX_ID,
        description="the profile's id as the page read it when its session started (the fit's "
        "profile_id): a profile deleted since, or made again under the name, is then a 404, and the "
        "readings never land in someone else's profile",
    )


@router.post(
    "/{name}/samples",
    operation_id="addProfileSample",
    status_code=201,
    summary="Keep readings of the person's face as a neutral sample or a correction",
    response_model=SampleAddedOut,
    responses={
        **_ERRORS,
        400: {
            "model": ErrorOut,
            "description": "a reading that does not sum to 1, a neutral sample with a label, or a "
            "correction without exactly one of label and not_label",
        },
        201: {
            "links": {
                "RemoveSample": link(
                    "removeSample",
                    "undo it",
                    name="$request.path.name",
                    sample_id="$response.body#/sample_id",
                ),
                "GetProfileFit": link("getProfileFit", "the new fit", name="$request.path.name"),
            }
        },
    },
)
async def add_sample(request: Request, name: ProfileName, body: NewReadings) -> Any:
    """Browser mode's calibrate and correct: the page's engine read the face, the server keeps the
    7 numbers (never a picture)."""
    from moodlens.personal import mean_reading
    from moodlens.store.profiles import NewSample

    if body.kind == "neutral" and (body.label is not None or body.not_label is not None):
        return _error(400, "a neutral sample is the face at rest: give no label or not_label")
    if body.kind == "correction" and (body.label is None) == (body.not_label is None):
        return _error(400, "a correction gives either label (what it was) or not_label (what it was not)")
    for i, reading in enumerate(body.readings):
        if abs(sum(reading) - 1.0) > SUM_TOLERANCE:
            return _error(
                400, f"readings[{i}] sums to {sum(reading):.4f}: each reading is 7 probabilities summing to 1"
            )
    svc = services(request.app)
    model = await reader_model(svc, body.reader)
    said = "neutral" if body.kind == "neutral" else body.label or f"not {body.not_label}"
    source = body.source or (
        "live page, analysed in the browser" if body.reader == "browser" else "live page"
    )
    sample = NewSample(
        kind=body.kind,
        probabilities=mean_reading(body.readings),
        model=model,
        label=body.label,
        not_label=body.not_label,
        source=f"{source}: {said}, {len(body.readings)} frame(s)",
    )
    added = await _call(svc, "add_profile_samples", name, [sample], profile_id=body.profile_id)
    if isinstance(added, Response):
        return added
    read = await _read(svc, name)
    if isinstance(read, Response):
        return read
    info, samples = read
    return {
        "sample_id": added[0],
        "profile": describe(info, samples, model),
        "fit": fit_of(info, samples, model, body.reader),
    }
