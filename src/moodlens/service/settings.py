"""Service configuration: one frozen, validated object, built by the CLI or by tests."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and localhost: addresses no other machine can reach."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class ServiceSettings:
    host: str = "127.0.0.1"
    port: int = 8000
    #: History database URL; None disables recording and the history endpoints.
    db: str | None = None
    #: Access token; required (and checked on every HTTP and WebSocket call) off loopback.
    token: str | None = None
    cors_origins: tuple[str, ...] = ()
    #: Request bodies: an image to /api/v1/analyze (plus 64 KiB for a multipart form's framing) ...
    max_upload_bytes: int = 10 * 2**20
    #: ... and every other route's body (JSON), capped while they arrive, chunked or not.
    max_json_bytes: int = 64 * 2**10
    #: Seconds from the request head to the end of an image upload, and of any other body.
    upload_timeout_s: float = 30.0
    json_timeout_s: float = 10.0
    max_frame_bytes: int = 2 * 2**20
    max_frame_pixels: int = 1920 * 1080
    max_upload_pixels: int = 40_000_000
    max_fps: float = 30.0
    max_clients: int = 16
    workers: int = 2
    retention_days: float = 30.0
    #: The profile the live page starts with (``serve --profile``); the page may choose another.
    profile: str | None = None

    def __post_init__(self) -> None:
        if not 0 < self.port < 65536:
            raise ValueError(f"port must lie in 1..65535, got {self.port}")
        if not is_loopback(self.host) and not self.token:
            raise ValueError(f"binding to {self.host} (not loopback) requires an access token")
        if self.token is not None and len(self.token) < 16:
            raise ValueError("the access token must have at least 16 characters")
        for name in (
            "max_upload_bytes",
            "max_json_bytes",
            "max_frame_bytes",
            "max_frame_pixels",
            "max_clients",
            "workers",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1")
        for name in ("upload_timeout_s", "json_timeout_s"):
            if not 0 < getattr(self, name) < float("inf"):
                raise ValueError(f"{name} must be a positive number of seconds")
        if self.max_fps <= 0:
            raise ValueError("max_fps must be > 0")
        if "*" in self.cors_origins:
            raise ValueError("CORS: list the origins to allow; '*' is not accepted")

    @property
    def loopback(self) -> bool:
        return is_loopback(self.host)
