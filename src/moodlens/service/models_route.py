"""What the in-browser engine needs from the server: the shipped model files, the shared
constants, the vendored ONNX Runtime Web, and the engine's own test and benchmark pages.

- ``GET /models/index.json``: every shipped model file with its sha256, size and a versioned URL
  (``/models/NAME?v=SHA``). A versioned URL is cached for good (``immutable``): a new model is a
  new URL. A plain ``/models/NAME`` is revalidated on each use (``no-cache`` + ETag, 304 when
  unchanged), so the page always gets the model the server runs.
- ``GET /engine/constants.json``: ``moodlens/shared_constants.json``, the constants both the
  Python pipeline and the engine use.
- ``GET /engine/ort/NAME``: the vendored onnxruntime-web files (``static/vendor/onnxruntime-web``),
  the ``.wasm`` as ``application/wasm`` (streaming compilation needs it).
- ``GET /engine/test``, ``/engine/bench``: the engine's parity and benchmark pages.

Everything here is served from the installed package: nothing comes from a CDN, and once loaded
the page needs no network. These responses carry what WebAssembly threads need: cross-origin
isolation (``Cross-Origin-Opener-Policy: same-origin`` + ``Cross-Origin-Embedder-Policy:
require-corp``, so ``SharedArrayBuffer`` exists) and a Content-Security-Policy that allows
compiling WebAssembly (``'wasm-unsafe-eval'``, nothing else that evaluates code) and the runtime's
worker threads; the rest of the app keeps its stricter policy (``security.py``).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import FileResponse, JSONResponse, Response

router = APIRouter()

STATIC = Path(__file__).parent / "static"
ENGINE = STATIC / "engine"
ORT = STATIC / "vendor" / "onnxruntime-web"
PAGES = {"test": "test.html", "bench": "bench.html"}

#: The policy of the engine's pages and files: the app's own, plus WebAssembly compilation and
#: the runtime's worker threads (which it starts from its own script, same origin).
ENGINE_CSP = (
    "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; worker-src 'self' blob:; "
    "img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; connect-src 'self'; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
#: The live page's policy: the same, with WebAssembly compilation allowed through ``default-src``
#: (which ``script-src`` falls back to) rather than a ``script-src`` of its own; scripts stay
#: ``'self'`` only, never inline.
LIVE_CSP = (
    "default-src 'self' 'wasm-unsafe-eval'; worker-src 'self' blob:; "
    "img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; connect-src 'self'; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
#: Cross-origin isolation, for WebAssembly threads (SharedArrayBuffer).
ISOLATION = {
    "cross-origin-opener-policy": "same-origin",
    "cross-origin-embedder-policy": "require-corp",
    "cross-origin-resource-policy": "same-origin",
    "content-security-policy": ENGINE_CSP,
}
_TYPES = {
    ".onnx": "application/octet-stream",
    ".json": "application/json",
    ".mjs": "text/javascript",
    ".js": "text/javascript",
    ".wasm": "application/wasm",
    ".html": "text/html; charset=utf-8",
}
_IMMUTABLE = "public, max-age=31536000, immutable"
_REVALIDATE = "no-cache"


@dataclass(frozen=True)
class _File:
    path: Path
    sha256: str
    size: int


_digests: dict[tuple[Path, int, int], str] = {}


def _describe(path: Path) -> _File:
    """The file with its sha256, computed once per (path, size, mtime)."""
    stat = path.stat()
    key = (path, stat.st_size, stat.st_mtime_ns)
    if key not in _digests:
        _digests[key] = hashlib.sha256(path.read_bytes()).hexdigest()
    return _File(path, _digests[key], stat.st_size)


def _models_dir() -> Path:
    return Path(str(resources.files("moodlens.models")))


def shipped_models() -> dict[str, Path]:
    """The model files the page may fetch: every ``.onnx`` and ``.json`` shipped in
    ``moodlens/models`` (weights and their metadata), by name."""
    folder = _models_dir()
    return {p.name: p for p in sorted(folder.iterdir()) if p.suffix in (".onnx", ".json") and p.is_file()}


def engine_model_id() -> str:
    """The classifier the in-browser engine runs (the shared constants' shipped model), named as
    ``personal.model_id`` names a classifier: its metadata's name and its file's sha256 prefix. A
    browser-mode session's history is recorded with it."""
    import json

    shared = json.loads(resources.files("moodlens").joinpath("shared_constants.json").read_text("utf-8"))
    models = shipped_models()
    name = json.loads(models[shared["classifier"]["metadata"]].read_text("utf-8"))["name"]
    return f"{name}:{_describe(models[shared['classifier']['model']]).sha256[:12]}"


def _send(request: Request, path: Path, cache: str, *, extra: dict[str, str] | None = None) -> Response:
    """``path`` with its content type, ETag (304 when the browser has it) and ``cache``."""
    described = _describe(path)
    etag = f'"{described.sha256[:32]}"'
    headers = {"cache-control": cache, "etag": etag, **ISOLATION, **(extra or {})}
    if etag in {t.strip() for t in request.headers.get("if-none-match", "").split(",")}:
        return Response(status_code=304, headers=headers)
    media = _TYPES.get(path.suffix, "application/octet-stream")
    return FileResponse(path, media_type=media, headers=headers)


@router.get("/models/index.json", include_in_schema=False)
async def model_index() -> JSONResponse:
    files = {}
    for name, path in shipped_models().items():
        described = _describe(path)
        files[name] = {
            "sha256": described.sha256,
            "bytes": described.size,
            "url": f"/models/{name}?v={described.sha256[:16]}",
        }
    return JSONResponse({"files": files}, headers={"cache-control": _REVALIDATE, **ISOLATION})


@router.get("/models/{name}", include_in_schema=False)
async def model_file(name: str, request: Request) -> Response:
    path = shipped_models().get(name)
    if path is None:
        raise HTTPException(404, f"no shipped model file {name!r}; see /models/index.json")
    version = request.query_params.get("v")
    if version is not None and not _describe(path).sha256.startswith(version):
        # An old page asking for a model that has since changed: give it the current one, uncached.
        return _send(request, path, _REVALIDATE)
    return _send(request, path, _IMMUTABLE if version else _REVALIDATE)


@router.get("/engine/constants.json", include_in_schema=False)
async def shared_constants(request: Request) -> Response:
    path = Path(str(resources.files("moodlens").joinpath("shared_constants.json")))
    return _send(request, path, _REVALIDATE)


@router.get("/engine/ort/{name}", include_in_schema=False)
async def runtime_file(name: str, request: Request) -> Response:
    files = {p.name: p for p in ORT.iterdir() if p.suffix in (".mjs", ".wasm")}
    if name not in files:
        raise HTTPException(404, f"no onnxruntime-web file {name!r}")
    return _send(request, files[name], _REVALIDATE)


@router.get("/engine/{page}", include_in_schema=False)
async def engine_page(page: str, request: Request) -> Response:
    if page not in PAGES:
        raise HTTPException(404, f"no engine page {page!r}; pages: {', '.join(PAGES)}")
    return _send(request, ENGINE / PAGES[page], "no-store")
