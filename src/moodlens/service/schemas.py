"""The JSON the web app sends and takes, as Pydantic models: the REST API's response models (its
OpenAPI document at ``/openapi.json``) and the pieces the live stream's messages share with it
(``service.asyncapi``). A model here is the contract: a field the server sends is declared here,
with its type, its bounds and what it means.

Per-label objects (probabilities, shares, counts) have one property per expression, in the canonical
order of ``moodlens.labels.LABELS`` (a test keeps them equal).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field
from pydantic.config import JsonDict

#: The 7 apparent expressions, in canonical order (``moodlens.labels.LABELS``).
Label = Literal["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]
#: What a face's headline shows: its label, or ``uncertain`` below 40%.
ShownLabel = Literal["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral", "uncertain"]
#: Ids are database rows: 1 to 2^53 - 1, the largest integer a JSON number holds exactly (a
#: JavaScript client, or a JSON Schema validator reading numbers as doubles, reads 2^63 - 1 as 2^63).
MAX_ID = 2**53 - 1
#: Track ids and person numbers are 32-bit, as the tracker writes them.
MAX_TRACK = 2**31 - 1
DATE_TIME: JsonDict = {"format": "date-time"}


def _json_integer(value: Any) -> Any:
    """JSON Schema's integer: a number without a fraction (3.0 counts). Not ``false`` or ``"3"``,
    which Pydantic's lax mode would read as 0 and 3."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("expected an integer")
    return value


# Integers of JSON request bodies, read as JSON Schema reads them (the bounds come first: so they
# stay minimum and maximum in the schema).
#: A track id or person number.
JsonTrack = Annotated[int, Field(ge=0, le=MAX_TRACK), BeforeValidator(_json_integer)]
#: Milliseconds of media time.
JsonMs = Annotated[int, Field(ge=0, le=MAX_ID), BeforeValidator(_json_integer)]


def _no_default(schema: dict[str, Any]) -> None:
    schema.pop("default", None)


def absent(description: str, **bounds: Any) -> Any:
    """A field the server leaves out (rather than sending null) where it does not apply: not
    required, never null."""
    return Field(default=None, description=description, json_schema_extra=_no_default, **bounds)


#: What the server sends: exactly the declared properties. A route's answer passes through its
#: model, which drops anything undeclared (rather than failing the request).
EXACT = ConfigDict(extra="ignore", json_schema_extra={"additionalProperties": False})


class _Out(BaseModel):
    model_config = EXACT


class ErrorOut(BaseModel):
    """What every refusal carries: one sentence for a person."""

    model_config = ConfigDict(json_schema_extra={"additionalProperties": False})
    error: str = Field(description="what failed, on which input, and what to do")


class ValidationIssue(BaseModel):
    """One input that failed validation (Pydantic's error, made JSON-safe)."""

    type: str
    loc: list[str | int] = Field(description="where: body, query, path or header, then the field")
    msg: str
    input: Any = Field(default=None, description="the value sent (NaN and infinities as strings)")
    ctx: dict[str, Any] | None = None
    url: str | None = None


class InvalidRequestOut(BaseModel):
    """A request the schema refuses (422): a one-line summary and every failed input."""

    error: str = Field(description="invalid request: WHERE: WHAT")
    detail: list[ValidationIssue]


# --- per-label objects -------------------------------------------------------------------------------


class Probabilities(BaseModel):
    """A probability per expression (they sum to 1)."""

    model_config = EXACT
    angry: float = Field(ge=0, le=1)
    disgust: float = Field(ge=0, le=1)
    fear: float = Field(ge=0, le=1)
    happy: float = Field(ge=0, le=1)
    sad: float = Field(ge=0, le=1)
    surprise: float = Field(ge=0, le=1)
    neutral: float = Field(ge=0, le=1)


class Shares(Probabilities):
    """The share of time each expression was shown (0 to 1)."""


class LabelMs(BaseModel):
    """Milliseconds (media time) each expression was shown."""

    model_config = EXACT
    angry: float = Field(ge=0)
    disgust: float = Field(ge=0)
    fear: float = Field(ge=0)
    happy: float = Field(ge=0)
    sad: float = Field(ge=0)
    surprise: float = Field(ge=0)
    neutral: float = Field(ge=0)


class LabelCounts(BaseModel):
    """A count per expression."""

    model_config = EXACT
    angry: int = Field(ge=0)
    disgust: int = Field(ge=0)
    fear: int = Field(ge=0)
    happy: int = Field(ge=0)
    sad: int = Field(ge=0)
    surprise: int = Field(ge=0)
    neutral: int = Field(ge=0)


class LabelShift(BaseModel):
    """A signed number per expression (a profile's baseline shift, in log-probability)."""

    model_config = EXACT
    angry: float
    disgust: float
    fear: float
    happy: float
    sad: float
    surprise: float
    neutral: float


# --- analysis ------------------------------------------------------------------------------------------


class Landmarks(BaseModel):
    """Five points [x, y] in pixels: the eye and mouth corner on the image's left and right, the nose."""

    model_config = EXACT
    eye_left: list[float] = Field(min_length=2, max_length=2)
    eye_right: list[float] = Field(min_length=2, max_length=2)
    nose: list[float] = Field(min_length=2, max_length=2)
    mouth_left: list[float] = Field(min_length=2, max_length=2)
    mouth_right: list[float] = Field(min_length=2, max_length=2)


class FaceOut(BaseModel):
    """A face: where it is, the 7 probabilities and what to show. In a stream, ``track_id`` (absent
    while a new face is not yet confirmed as a person), the smoothed probabilities and the stable
    label; read through a personal profile, the model's own reading beside the personal one."""

    model_config = EXACT
    box: list[float] = Field(min_length=4, max_length=4, description="[x1, y1, x2, y2] in pixels")
    score: float = Field(ge=0, le=1, description="the detector's confidence")
    landmarks: Landmarks = absent("absent when the detector gives none")
    track_id: int = absent("the person across frames (streams; absent until the face is confirmed)", ge=0)
    label: Label = Field(description="the most probable expression")
    confidence: float = Field(ge=0, le=1, description="its probability")
    probabilities: Probabilities = Field(description="personal ones when a profile is applied")
    model_label: Label = absent("with a profile: the model's own label")
    model_confidence: float = absent("with a profile: the model's own confidence", ge=0, le=1)
    model_probabilities: Probabilities = absent("with a profile: the model's own probabilities")
    profile: str = absent("with a profile: its name")
    model_smoothed_probabilities: Probabilities = absent(
        "streams, with a profile: the model's own reading smoothed as a run without the profile shows it "
        "(what the history keeps)"
    )
    model_stable_label: Label = absent(
        "streams, with a profile: the model's own label shown, with hysteresis"
    )
    smoothed_probabilities: Probabilities = absent("streams: smoothed over time")
    stable_label: Label = absent("streams: the label shown, with hysteresis")
    shown_label: ShownLabel = Field(description="what every output shows: the label, or uncertain")
    uncertain: bool = Field(description="the shown label is held with less than 40%")


class AnalysisSettingsOut(_Out):
    """What the server analyses with (``moodlens serve --min-face/--max-side`` change them)."""

    detector: str
    model: str
    max_faces: int | None = Field(description="null: every face found")
    min_face: int = absent("the smallest face looked for, in pixels")
    max_side: int = absent("frames are scanned at most this large, in pixels")
    threshold: float = absent("the detector's score threshold")


class AnalysisOut(_Out):
    """The faces in one image. Nothing is stored."""

    width: int = Field(ge=1)
    height: int = Field(ge=1)
    faces: list[FaceOut]
    timings_ms: dict[str, float] = Field(description="milliseconds per step (detect, classify, ...)")
    settings: AnalysisSettingsOut


class HealthOut(_Out):
    status: Literal["ok"]
    detector: str
    model: str
    settings: AnalysisSettingsOut
    history: bool = Field(description="the server records sessions (started with --db)")
    profile: str | None = Field(description="the profile the live page starts with")
    clients: int = Field(ge=0, description="live streams connected now")


class LabelOut(_Out):
    label: Label
    display: str = Field(description="the label in words, for people")
    colour: str = Field(pattern="^#[0-9a-f]{6}$", description="the overlay's colour")
    chart_colour: str = Field(pattern="^#[0-9a-f]{6}$", description="the charts' colour (3:1 on white)")


class ModelOut(_Out):
    name: str
    labels: list[Label] = Field(min_length=7, max_length=7, description="the model's output order")
    input_size: list[int] = Field(min_length=2, max_length=2, description="[width, height] in pixels")
    metrics: dict[str, dict[str, Any]] = Field(description="how it scored, per test set")


class VersionOut(_Out):
    moodlens: str
    model: ModelOut
    detector: str


# --- history ----------------------------------------------------------------------------------------


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
    dominant: Label | None = Field(default=None, description="the expression shown longest")
    dominant_text: str | None = Field(
        default=None, description="the dominant expression in words, near ties said"
    )
    runner_up: Label | None = Field(default=None, description="the expression shown second longest")
    near_tie: bool | None = Field(default=None, description="the two largest shares lie within 5 points")
    valence: float | None = Field(default=None, ge=-1, le=1)
    shares: Shares | None = Field(default=None, description="share of time each expression was shown")
    mean_probabilities: Probabilities | None = None


class _SessionFields(BaseModel):
    model_config = ConfigDict(extra="allow")

    id: int
    name: str
    source: str
    started_at: str = Field(description="ISO 8601, UTC", json_schema_extra=DATE_TIME)
    ended_at: str | None = Field(json_schema_extra=DATE_TIME)
    consent_given: bool
    consent_at: str | None = Field(json_schema_extra=DATE_TIME)
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


class BucketOut(_Out):
    """A distribution over one session, day (UTC) or week (from Monday): time-weighted mean
    probabilities, the share of time each expression was shown, and the valence index."""

    key: str = Field(description="the session id, the day (YYYY-MM-DD) or the week's Monday")
    frames: int = Field(ge=0)
    duration_ms: float = Field(ge=0)
    valence: float = Field(ge=-1, le=1, description="happy +1; angry, disgust, fear, sad -1; others 0")
    mean_probabilities: Probabilities
    dominant_shares: Shares


class SessionDetailOut(_SessionFields):
    distribution: BucketOut | None = Field(
        description="the share of time per expression, the valence index (null: nothing recorded)"
    )
    people: list[PersonOut] = Field(description="its people (their number is the session's people count)")


class IntervalOut(_Out):
    """One interval of one track: smoothed probabilities over about a second of media time."""

    track_id: int = Field(ge=0)
    start_ms: int = Field(ge=0, description="media time from the session's start")
    end_ms: int = Field(ge=0)
    start_at: str = Field(description="wall-clock time, ISO 8601", json_schema_extra=DATE_TIME)
    frames: int = Field(ge=0)
    dominant: Label
    valence: float = Field(ge=-1, le=1)
    probabilities: Probabilities
    shown_ms: LabelMs
    profiled: bool = Field(description="read through the session's profile (a correction teaches it)")
    person: int = Field(ge=0, description="the person the track belongs to")
    hidden: bool


class FrameRowOut(_Out):
    """A per-frame row (sessions recorded with frame rows only)."""

    track_id: int
    timestamp_ms: float
    label: Label
    probabilities: Probabilities


class CorrectionOut(_Out):
    id: int
    session_id: int
    track_id: int
    start_ms: int
    end_ms: int
    wrong_label: Label
    correct_label: Label | None
    note: str
    created_at: str = Field(json_schema_extra=DATE_TIME)
    taught_profile: str | None = Field(description="the profile this correction taught, if any")


class CorrectionCreatedOut(_Out):
    id: int = Field(description="the correction's id")
    taught_profile: str | None = Field(
        description="the profile it taught (a session recorded with a profile, its main track), else null"
    )


class SessionExportOut(_Out):
    """Everything kept about a session (``format=json``)."""

    session: SessionOut
    people: list[PersonOut]
    intervals: list[IntervalOut]
    frames: list[FrameRowOut]
    corrections: list[CorrectionOut]
    valence_index: str = Field(description="how the valence index is computed, in words")


# --- profiles ---------------------------------------------------------------------------------------


class ProfileInfoOut(_Out):
    """A profile: one person's calibration, kept with their consent (label-space numbers only)."""

    id: int
    name: str
    created_at: str = Field(json_schema_extra=DATE_TIME)
    updated_at: str = Field(json_schema_extra=DATE_TIME)
    consent_at: str | None = Field(json_schema_extra=DATE_TIME)
    neutral_samples: int = Field(ge=0)
    corrections: int = Field(ge=0)
    last_changed: str = Field(json_schema_extra=DATE_TIME)


class SampleOut(_Out):
    """A neutral sample or a correction: the model's 7 probabilities, and what it showed or did not."""

    id: int
    kind: Literal["neutral", "correction"]
    label: Label | None = Field(description="a correction: what it was")
    not_label: Label | None = Field(description="a correction: what it was not")
    probabilities: Probabilities
    model: str = Field(description="the classifier whose probabilities these are")
    source: str
    created_at: str = Field(json_schema_extra=DATE_TIME)
    correction_id: int | None = Field(description="the history correction it came from, if any")


class ProfileStateOut(_Out):
    """What a fitted profile holds (``moodlens profile show``)."""

    name: str
    baseline_set: bool
    neutral_samples: int = Field(ge=0)
    corrections: int = Field(ge=0)
    corrections_per_label: LabelCounts
    not_corrections_per_label: LabelCounts
    baseline_shift: LabelShift | None


class ProfileOut(ProfileInfoOut):
    """A profile with its fit for the server's model and every sample."""

    model: str = Field(description="the server's model")
    fitted: ProfileStateOut = Field(description="the profile fitted from this model's samples")
    other_models: list[str] = Field(description="models other samples were taken with (not used)")
    samples: list[SampleOut]


#: Seven numbers, one per expression in canonical order (moodlens.labels.LABELS).
Row7 = Annotated[list[float], Field(min_length=7, max_length=7)]


class ProfileNumbersOut(_Out):
    """What the live page's engine needs to read a face through a profile
    (``moodlens.personal.Profile.wire``; ``static/engine/personal.js`` applies them): the baseline's
    shift and the prototypes' log-probabilities, in label space only."""

    name: str
    floor: float = Field(gt=0, lt=1, description="probabilities are floored here before the log")
    width: float = Field(gt=0, description="a prototype's reach, in log-probability units")
    max_bonus: float = Field(gt=0, description="the most one term moves a log-probability")
    unseen: float = Field(gt=0, description="how far a correction pulls expressions without prototypes")
    shift: Row7 = Field(description="the baseline's shift of each expression's log-probability")
    prototypes: list[Row7] = Field(description="log-probabilities of the labelled samples")
    prototype_labels: list[Annotated[int, Field(ge=0, le=6)]] = Field(
        description="each prototype's expression (an index into the canonical labels)"
    )
    negatives: list[Row7] = Field(description='log-probabilities of the "it was not X" samples')
    negative_labels: list[Annotated[int, Field(ge=0, le=6)]] = Field(
        description="each negative's expression (an index into the canonical labels)"
    )


class ProfileFitOut(_Out):
    """A profile fitted for one reader's model: the server's classifier, or the live page's
    in-browser engine (the shipped default model), whose samples are kept apart."""

    name: str
    profile_id: int = Field(ge=1, le=MAX_ID, description="the profile's id: bind a session's samples to it")
    reader: Literal["server", "browser"]
    model: str = Field(description="the model the fit is for (its name and sha256 prefix)")
    fitted: ProfileStateOut
    numbers: ProfileNumbersOut


class SampleAddedOut(_Out):
    """A sample stored: its id (to undo it), the profile as the page shows it, and the new fit."""

    sample_id: int = Field(ge=1, le=MAX_ID)
    profile: ProfileOut
    fit: ProfileFitOut


class ProfileExportOut(_Out):
    profile: ProfileInfoOut
    samples: list[SampleOut]
    kept: str = Field(description="what is kept, in words")
