"""The web application: ``create_app(settings)`` builds everything once and wires it together."""

from __future__ import annotations

import asyncio
import logging
import math
import re
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles

from moodlens._version import __version__
from moodlens.pipeline.analyzer import Analyzer
from moodlens.service.security import AccessGuard
from moodlens.service.settings import ServiceSettings

STATIC = Path(__file__).parent / "static"
log = logging.getLogger("moodlens.service")


@dataclass
class Services:
    """What the routes share, built once at start-up and reached through ``app.state``."""

    settings: ServiceSettings
    analyzer: Analyzer
    store: Any | None
    inference: asyncio.Semaphore
    clients: int = 0
    frames_processed: int = 0
    cleanups: set[asyncio.Future[Any]] = field(default_factory=set)
    #: The face-embedding model for live sessions that ask to link people; loaded on the first
    #: such session (most never do), then shared: it holds weights only, never a face.
    embedder: Any | None = None
    _embedder_lock: threading.Lock = field(default_factory=threading.Lock)

    def face_embedder(self) -> Any:
        with self._embedder_lock:
            if self.embedder is None:
                from moodlens.identity import OnnxFaceEmbedder

                self.embedder = OnnxFaceEmbedder()
            return self.embedder


def services(app: FastAPI) -> Services:
    found: Services = app.state.services
    return found


def store_failure(exc: Exception) -> tuple[int, str]:
    """The HTTP status and message for a failed history call: generic, because the store's own
    messages name the database (its path or URL on the server's machine); those go to the log."""
    found = re.match(r"no session (\d+)\b", str(exc))
    if found:
        return 404, f"no session {found.group(1)}"
    if isinstance(exc, KeyError) and exc.args:  # the store's NotFoundError: says what, never where
        return 404, str(exc.args[0])
    log.warning("history database: %s", exc)
    if "database is locked" in str(exc) or "lock timeout" in str(exc):
        return 503, "the history database is busy (another write held it too long); try again"
    if "cannot write" in str(exc):
        return 503, "the history database refused the write (read-only or full?); the server's log says why"
    return 503, "the history database is unavailable; the server's log says why"


def _json_safe(value: Any) -> Any:
    """``value`` with non-finite floats spelled as strings (NaN is not JSON, so JSONResponse refuses it)
    and lone surrogates replaced (UTF-8 cannot encode them)."""
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, str):
        # A lone surrogate ("\ud800" in the request's JSON) cannot be written out as UTF-8: the
        # echo of the input shows it as "?" rather than failing the 422 itself.
        return value.encode("utf-8", "replace").decode("utf-8")
    if isinstance(value, dict):
        return {_json_safe(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value


async def _invalid_request(request: Request, exc: Exception) -> JSONResponse:
    """FastAPI's 422, with the offending inputs made JSON-safe (a body with ``"end_ms": NaN``
    echoed NaN back, and failed while writing its own 422), plus a one-line ``error``."""
    assert isinstance(exc, RequestValidationError)
    detail = _json_safe(jsonable_encoder(exc.errors()))
    first = detail[0] if detail else {}
    where = ".".join(str(part) for part in first.get("loc", ()))
    summary = f"invalid request: {where}: {first.get('msg', 'not valid')}" if first else "invalid request"
    return JSONResponse({"error": summary, "detail": detail}, status_code=422)


def create_app(
    settings: ServiceSettings, *, analyzer: Analyzer | None = None, store: Any | None = None
) -> FastAPI:
    """The FastAPI app. ``analyzer`` and ``store`` may be injected (tests); otherwise the default
    analyzer is built, and the history store opened when ``settings.db`` is set, at start-up."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        built_store = store
        if built_store is None and settings.db is not None:
            from moodlens.store import HistoryStore

            built_store = HistoryStore(settings.db)
            built_store.apply_retention(settings.retention_days)
        app.state.services = Services(
            settings=settings,
            analyzer=analyzer or Analyzer(),
            store=built_store,
            inference=asyncio.Semaphore(settings.workers),
        )
        try:
            yield
        finally:
            pending = list(app.state.services.cleanups)
            if pending:
                await asyncio.gather(*pending, return_exceptions=True)
            if built_store is not None and store is None:
                built_store.close()

    app = FastAPI(
        title="moodlens",
        version=__version__,
        description=_DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    app.add_exception_handler(RequestValidationError, _invalid_request)
    from moodlens.service import contract

    contract.install(app, settings)
    from moodlens.service.api import router
    from moodlens.service.history import router as history_router
    from moodlens.service.models_route import router as models_router
    from moodlens.service.people import router as people_router
    from moodlens.service.profiles import router as profiles_router
    from moodlens.service.stream import router as stream_router

    app.include_router(router)
    app.include_router(history_router)
    app.include_router(people_router)
    app.include_router(profiles_router)
    app.include_router(stream_router)
    app.include_router(models_router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    _mount_docs(app)

    @app.get("/asyncapi.json", include_in_schema=False)
    async def asyncapi() -> JSONResponse:
        # The live stream's protocol, beside /openapi.json (which cannot describe a WebSocket).
        from moodlens.service.asyncapi import asyncapi_document

        return JSONResponse(asyncapi_document())

    @app.get("/redoc", include_in_schema=False)
    async def redoc() -> FileResponse:
        # ReDoc from static/vendor/redoc (npm, with its licences), on a page of our own: a language,
        # a main landmark, colours with enough contrast, no fonts from elsewhere.
        return FileResponse(STATIC / "redoc.html", headers=_NO_STORE)

    @app.get("/", include_in_schema=False)
    async def live_page() -> FileResponse:
        # The page runs the analysis itself by default (static/engine/, WebAssembly with threads):
        # the engine's policy (WebAssembly compilation, the runtime's workers) and cross-origin
        # isolation, as for the engine's own pages (models_route.ISOLATION). Everything it loads
        # is from this server (same origin), so require-corp blocks nothing.
        from moodlens.service.models_route import ISOLATION, LIVE_CSP

        headers = {**_NO_STORE, **ISOLATION, "content-security-policy": LIVE_CSP}
        return FileResponse(STATIC / "index.html", headers=headers)

    @app.get("/dashboard", include_in_schema=False)
    async def dashboard_page() -> FileResponse:
        return FileResponse(STATIC / "dashboard.html", headers=_NO_STORE)

    @app.get("/dashboard/sessions/{session_id}", include_in_schema=False)
    async def dashboard_session_page(session_id: int) -> FileResponse:
        # A session's own address: the page opens it (bookmarks, Back, a link shared on this machine).
        return FileResponse(STATIC / "dashboard.html", headers=_NO_STORE)

    if settings.cors_origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(settings.cors_origins),
            allow_methods=["*"],
            allow_headers=["*"],
        )
    app.add_middleware(AccessGuard, settings=settings)
    return app


_NO_STORE = {"cache-control": "no-store"}
_DESCRIPTION = """\
Local recognition of apparent facial expressions. Frames are processed in memory and never stored;
only labels and probabilities over time are kept, with consent.

- **The live stream** (`/api/v1/stream`, a WebSocket) is described by an AsyncAPI 3.0 document:
  [/asyncapi.json](/asyncapi.json), every message of each side with its JSON Schema.
- **Errors** are `{"error": "..."}`, one sentence for a person; a refused parameter or body is a 422
  with the failed inputs in `detail`. No error names a file or address of the server's machine.
- **Ids** are 1 to 2^53 - 1 (what a JSON number holds exactly); dates and times are ISO 8601 (without
  a zone: UTC).
- Reference pages: [/docs](/docs) (Swagger UI) and [/redoc](/redoc) (ReDoc), served by this server.
"""


def _mount_docs(app: FastAPI) -> None:
    """Swagger UI (/docs), served from the fastapi-offline wheel: no CDN (ReDoc, at /redoc, is
    vendored from npm in static/vendor/redoc).

    fastapi-offline ships Swagger UI 5, which reads the OpenAPI 3.1 that FastAPI emits (the
    swagger-ui-bundle wheel stopped at Swagger UI 4, which cannot render 3.1).
    """
    try:
        import fastapi_offline
    except ImportError:
        return
    assets = Path(fastapi_offline.__file__).parent / "static"
    app.mount("/docs-assets", StaticFiles(directory=assets), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        page = get_swagger_ui_html(
            openapi_url="/openapi.json",
            title="moodlens API",
            swagger_js_url="/docs-assets/swagger-ui-bundle.js",
            swagger_css_url="/docs-assets/swagger-ui.css",
            swagger_favicon_url="/static/favicon.svg",
            # Deep links put a link inside each operation's toggle button (nested controls).
            swagger_ui_parameters={"deepLinking": False},
        )
        return HTMLResponse(_accessible_docs(bytes(page.body).decode()))


def _accessible_docs(html: str) -> str:
    """Swagger UI's page with what it lacks for assistive technology: a language, a main landmark,
    heading levels without a gap (``static/docs.js``) and the contrast fixes of ``static/docs.css``."""
    html = html.replace("<html>", '<html lang="en">', 1)
    html = html.replace("</head>", '<link rel="stylesheet" href="/static/docs.css">\n</head>', 1)
    html = html.replace("</body>", '<script src="/static/docs.js"></script>\n</body>', 1)
    return html.replace('<div id="swagger-ui">', '<main><div id="swagger-ui">', 1).replace(
        "</div>\n    <script", "</div></main>\n    <script", 1
    )
