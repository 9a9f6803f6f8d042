"""The live stream's protocol (``/api/v1/stream``, a WebSocket) as an AsyncAPI 3.0 document, served
at ``/asyncapi.json`` beside ``/openapi.json``: every message each side sends, each a JSON Schema.

The models describe what ``service.stream`` takes and sends (they are not used to build its
messages); ``tests/test_contract.py`` runs real sessions and validates every message against the
served document, so the two cannot drift apart. What the server sends is exact (no property that
is not declared); what it takes is what a client should send (it ignores other properties).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import models_json_schema

from moodlens._version import __version__
from moodlens.service.schemas import (
    FaceOut,
    Label,
    Probabilities,
    ProfileOut,
    ProfileStateOut,
    Shares,
    ShownLabel,
    absent,
)

#: Capture times are milliseconds on the client's clock, 0 to about 115 days (stream.MAX_CAPTURE_MS).
MAX_CAPTURE_MS = 1e10
_SENT = ConfigDict(extra="forbid")
_TAKEN = ConfigDict(extra="allow")


# --- what the client sends -----------------------------------------------------------------------------


class StartIn(BaseModel):
    """Starts a session; required before any frame. Without ``consent: true`` no frame is processed
    (an error ``consent_required``). A second start ends the running session first."""

    model_config = _TAKEN
    type: Literal["start"]
    consent: bool = Field(description="the person in front of the camera agreed (only true starts)")
    name: str = Field(
        default="",
        description="the session's name (first 200 characters kept; control characters and line "
        "breaks are refused as bad_message)",
    )
    record: bool = Field(default=True, description="record it in the history (when the server has --db)")
    profile: str | None = Field(
        default=None, description="read the main face through this personal profile (needs --db)"
    )
    link_people: bool = Field(
        default=False, description="link the tracks that show one person (a face-embedding model, in memory)"
    )
    mode: Literal["server", "browser"] = Field(
        default="server",
        description="server: the client sends frames and the server analyses them; browser: the page "
        "analyses its own camera and sends only observations (a record-only session: needs the "
        "server's database, no link_people; with a profile the page applies it itself; frames are refused)",
    )


class ObservedFaceIn(BaseModel):
    """What the history keeps of one confirmed face in one analysed frame (numbers only)."""

    model_config = _TAKEN
    track_id: int = Field(ge=1, le=2**31 - 1, description="the person's track id (once per message)")
    stable_label: Label = Field(description="the label shown (the smoothed label, with hysteresis)")
    smoothed_probabilities: Probabilities = Field(
        description="the smoothed probabilities, each in [0, 1], summing to 1 (within 0.01)"
    )
    model_probabilities: Probabilities = absent(
        "in a session started with a profile, on the one face the page reads through it: the "
        "model's own reading of this frame"
    )
    model_smoothed_probabilities: Probabilities = absent(
        "with model_probabilities: the model's own reading smoothed as the page smooths a face read "
        "without a profile (the history keeps it; without it the server smooths model_probabilities)"
    )
    model_stable_label: Label = absent("with model_smoothed_probabilities: the model's own label shown")


class ObservationsIn(BaseModel):
    """Browser mode: what the history keeps of one frame the page analysed itself (no image).
    Folded into the session's history as a server-analysed frame is; a refused message gets an
    ``error`` ``bad_observations`` and is not recorded; one that would take the session past 5,000
    distinct track ids gets ``session_full`` (stop and start a new session). No other reply."""

    model_config = _TAKEN
    type: Literal["observations"]
    t: float = Field(ge=0, le=MAX_CAPTURE_MS, description="the frame's capture time in ms, never going back")
    faces: list[ObservedFaceIn] = Field(max_length=64, description="the confirmed faces (a track id)")


class StopIn(BaseModel):
    """Ends the session; the reply is ``stopped`` with the summaries."""

    model_config = _TAKEN
    type: Literal["stop"]


class PingIn(BaseModel):
    model_config = _TAKEN
    type: Literal["ping"]


class CalibrateIn(BaseModel):
    """With a profile: collect the main track's readings over the next seconds of capture time and
    store their mean as a neutral sample (the reply: ``profile`` with event ``calibrated``)."""

    model_config = _TAKEN
    type: Literal["calibrate"]
    seconds: float = Field(default=3, ge=1, le=10)


class CorrectIn(BaseModel):
    """With a profile: the main track's reading of the last second was ``label`` (or was ``not``
    that label); exactly one of the two. The reply: ``profile`` with event ``corrected``."""

    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={"oneOf": [{"required": ["label"]}, {"required": ["not"]}]},
    )
    type: Literal["correct"]
    label: Label = absent("what it was")
    not_: Label = absent("what it was not", alias="not")


class ReloadProfileIn(BaseModel):
    """Refit the profile after a change made over REST (reply: ``profile``, event ``reloaded``)."""

    model_config = _TAKEN
    type: Literal["reload_profile"]


# --- what the server sends -----------------------------------------------------------------------------


class StartedOut(BaseModel):
    model_config = _SENT
    type: Literal["started"]
    session_id: int | None = Field(description="the history session recording it (null: not recorded)")
    recording: bool
    max_fps: float = Field(gt=0, description="frames per second the server takes from this client")
    profile: str | None = Field(description="the profile the main face is read through")
    link_people: bool
    mode: Literal["server", "browser"] = Field(description="browser: a record-only session (observations)")


class HeadlineOut(BaseModel):
    """What the headline says about the person it follows; it has held for a second."""

    model_config = _SENT
    track_id: int = Field(ge=0)
    label: ShownLabel
    confidence: float = Field(ge=0, le=1, description="that label's smoothed probability now")
    uncertain: bool


class ResultOut(BaseModel):
    """The analysis of one frame."""

    model_config = _SENT
    type: Literal["result"]
    t: float = Field(ge=0, le=MAX_CAPTURE_MS, description="the frame's capture time, as sent")
    frame: int = Field(ge=0, description="its index in the session")
    width: int = Field(ge=1)
    height: int = Field(ge=1)
    cut: bool = Field(description="a new shot starts here: every earlier box is stale")
    faces: list[FaceOut]
    headline: HeadlineOut | None
    server_ms: float = Field(ge=0, description="time the server took, decoding included")


class TrackSummaryOut(BaseModel):
    """How one track (or person) looked over the session (``moodlens.summary``)."""

    model_config = _SENT
    track_id: int
    first_ms: float
    last_ms: float
    frames: int = Field(ge=0)
    duration_ms: float = Field(ge=0, description="time analysed, in media time")
    analysed_ms: float = Field(ge=0)
    on_screen_ms: float = Field(ge=0)
    dominant: Label = Field(description="the expression shown longest")
    dominant_text: str = Field(description='what to say: "happy", or "happy and fear, about equal"')
    runner_up: Label | None
    near_tie: bool
    valence: float = Field(ge=-1, le=1)
    shares: Shares
    mean_probabilities: Probabilities


class PersonSummaryOut(TrackSummaryOut):
    """A person the server linked (``link_people``): the summary over its tracks."""

    person: int
    track_ids: list[int]


class StoppedOut(BaseModel):
    model_config = _SENT
    type: Literal["stopped"]
    frames: int = Field(ge=0)
    dropped: int = Field(ge=0, description="frames refused (busy, over the rate)")
    tracks: list[TrackSummaryOut]
    track_count: int = Field(ge=0)
    people: int = Field(ge=0, description="the people the tracks make (linked, else one per track)")
    people_summaries: list[PersonSummaryOut] = absent("with link_people: each person's summary")
    session_id: int = absent("the recorded session")
    history_error: str = absent("the recording could not be completed")
    mode: Literal["server", "browser"] = Field(description="the session's mode (browser: observations only)")
    binary_messages: int = Field(
        ge=0, description="binary messages (frames) the server received in the session: 0 in browser mode"
    )


class PongOut(BaseModel):
    model_config = _SENT
    type: Literal["pong"]


class ProfileEventOut(BaseModel):
    """The profile changed (calibrated, corrected) or was refitted (reloaded); it applies from the
    next frame."""

    model_config = _SENT
    type: Literal["profile"]
    event: Literal["calibrated", "corrected", "reloaded"]
    sample_id: int = absent("calibrated, corrected: the sample stored")
    profile: ProfileOut | ProfileStateOut = Field(
        description="calibrated, corrected: the profile with its samples; reloaded: the fit"
    )


ErrorCode = Literal[
    "bad_message",
    "consent_required",
    "not_started",
    "busy",
    "rate_limited",
    "frame_too_large",
    "bad_frame",
    "processing_failed",
    "no_profiles",
    "unknown_profile",
    "no_profile",
    "no_face",
    "calibration_failed",
    "profile_failed",
    "no_history",
    "bad_observations",
    "session_full",
    "frames_refused",
]


class ErrorEventOut(BaseModel):
    """A message or frame was refused; the stream goes on."""

    model_config = _SENT
    type: Literal["error"]
    code: ErrorCode
    message: str = Field(description="what failed, for a person")


# --- the document -------------------------------------------------------------------------------------

#: name -> (model, title); the client's messages, then the server's.
_CLIENT: dict[str, tuple[type[BaseModel], str]] = {
    "start": (StartIn, "Start a session (consent required)"),
    "stop": (StopIn, "End the session"),
    "ping": (PingIn, "Are you there?"),
    "calibrate": (CalibrateIn, "Calibrate the profile: a neutral sample"),
    "correct": (CorrectIn, "Correct the profile: what the last second was (not)"),
    "reload_profile": (ReloadProfileIn, "Refit the profile"),
    "observations": (ObservationsIn, "Browser mode: what the history keeps of one analysed frame"),
}
_SERVER: dict[str, tuple[type[BaseModel], str]] = {
    "started": (StartedOut, "The session started"),
    "result": (ResultOut, "One frame analysed"),
    "stopped": (StoppedOut, "The session ended, with its summaries"),
    "pong": (PongOut, "Here"),
    "profile": (ProfileEventOut, "The profile changed"),
    "error": (ErrorEventOut, "A message or frame was refused"),
}
_FRAME = {
    "name": "frame",
    "title": "A camera frame",
    "summary": "Binary: 8 bytes little-endian float64 capture time in ms (0 to 1e10, never going "
    "back), then a JPEG or PNG (at most 2 MB and 1920x1080 by default). One frame at a time: "
    "send the next when its result (or error) arrives.",
    "contentType": "application/octet-stream",
    "payload": {"type": "string", "format": "binary", "minLength": 9},
}
#: What each client message is answered with.
_REPLIES = {
    "start": ["started", "error"],
    "stop": ["stopped"],
    "ping": ["pong"],
    "calibrate": ["profile", "error"],
    "correct": ["profile", "error"],
    "reload_profile": ["profile", "error"],
    "observations": ["error"],
    "frame": ["result", "error"],
}
_DESCRIPTION = """\
The live page's WebSocket. Every message is a JSON object with a `type`, except camera frames, which
are binary. The client sends `start` (with the person's consent) first; then frames, one at a time;
then `stop`. In browser mode (`start` with `"mode": "browser"`) the page analyses its own camera and
sends, per analysed frame, only `observations` (track ids, shown labels, smoothed probabilities) into
a record-only session: frames are refused there and the summary counts the binary messages
received (0). A message or frame the server refuses gets an `error` (with a `code`) and the stream
goes on. Frames are decoded in memory and never stored; with `record` (and a server started with
`--db`) only labels and probabilities over time are kept.

The handshake is refused (closed before it is accepted) without the access token where the server
requires one (close code 4401), from a foreign Origin (4403) or Host (4400), and with 1013 when the
server has its maximum of live clients (16 by default). Messages are at most 2 MB + 1 KiB.
"""


def _ref(path: str) -> dict[str, str]:
    return {"$ref": path}


def asyncapi_document() -> dict[str, Any]:
    """The AsyncAPI 3.0 document of ``/api/v1/stream``."""
    models = [(model, "serialization") for model, _ in (*_CLIENT.values(), *_SERVER.values())]
    _, defs = models_json_schema(models, ref_template="#/components/schemas/{model}")  # type: ignore[arg-type]
    schemas = defs.get("$defs", {})
    messages: dict[str, Any] = {"frame": _FRAME}
    for name, (model, title) in (*_CLIENT.items(), *_SERVER.items()):
        messages[name] = {
            "name": name,
            "title": title,
            "summary": (model.__doc__ or title).split("\n\n")[0].replace("\n", " "),
            "contentType": "application/json",
            "payload": _ref(f"#/components/schemas/{model.__name__}"),
        }
    channel = "#/channels/stream"
    operations: dict[str, Any] = {}
    for name in ("frame", *_CLIENT):
        operations[f"receive_{name}"] = {
            "action": "receive",
            "channel": _ref(channel),
            "messages": [_ref(f"{channel}/messages/{name}")],
            "reply": {
                "channel": _ref(channel),
                "messages": [_ref(f"{channel}/messages/{reply}") for reply in _REPLIES[name]],
            },
        }
    operations["send"] = {
        "action": "send",
        "channel": _ref(channel),
        "title": "Everything the server sends",
        "messages": [_ref(f"{channel}/messages/{name}") for name in _SERVER],
    }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "moodlens live stream",
            "version": __version__,
            "description": _DESCRIPTION,
        },
        "defaultContentType": "application/json",
        "channels": {
            "stream": {
                "address": "/api/v1/stream",
                "title": "The live stream",
                "messages": {name: _ref(f"#/components/messages/{name}") for name in messages},
                "bindings": {"ws": {"bindingVersion": "0.1.0", "method": "GET"}},
            }
        },
        "operations": operations,
        "components": {"messages": messages, "schemas": schemas},
    }
