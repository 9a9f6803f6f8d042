"""``moodlens export-web DIR``: the live page as static files that any static host can serve.

No moodlens server behind it: the page runs the analysis in the browser only (the engine and the
vendored onnxruntime-web), has no WebSocket, and keeps its history, when asked to, in the browser's
own storage (``static/local-history.js``). The files sit where the served page has them
(``static/``, ``engine/``, ``models/``), and the exported page loads them relative to itself, so the
folder may be served from the root of a host or from any folder below it (a project site's
``/name/``); the exported ``index.html`` carries ``<meta name="moodlens-mode" content="static">``,
which is how the page knows. Nothing here needs the ``serve`` extra.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import shutil
import sys
import tempfile
from importlib import resources
from pathlib import Path
from typing import Any

#: In every export: ``--force`` replaces a folder only when it holds this file.
MARKER = ".moodlens-export-web"
STATIC_META = '<meta name="moodlens-mode" content="static">'
#: The policy the server gives the live page (models_route.LIVE_CSP): WebAssembly compilation and
#: the runtime's worker threads; no inline script, nothing from elsewhere.
CSP = (
    "default-src 'self' 'wasm-unsafe-eval'; worker-src 'self' blob:; img-src 'self' data: blob:; "
    "style-src 'self' 'unsafe-inline'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; "
    "form-action 'self'"
)
HEADERS = {
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Embedder-Policy": "require-corp",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Content-Security-Policy": CSP,
}
#: The page's own files in ``service/static``: the dashboard, API pages and their vendored
#: libraries need a server and stay out.
_SERVER_ONLY = {"dashboard.js", "redoc.js", "docs.js", "redoc.css", "docs.css"}
_LICENCES = ("LICENSE-yunet", "NOTICE")

_README = """moodlens live page, exported by `moodlens export-web` (moodlens {version})

Serve this folder from any static host, at its root or in any folder below it (the page loads
static/, engine/ and models/ relative to itself). There is no server: the analysis runs in the
browser (WebAssembly), your camera frames and results stay in this browser, and history, if you
record it, is kept in the browser's own storage (export it as JSON or delete it from the page).

Headers. For WebAssembly threads (faster) the host must send, on every file:

{headers}

_headers holds them in the Netlify / Cloudflare Pages format. Without them the page still works,
single-threaded (no cross-origin isolation, so no SharedArrayBuffer); a host that sends a
Content-Security-Policy of its own must allow 'wasm-unsafe-eval'. .wasm files should be served as
application/wasm and .mjs as text/javascript.

Third-party files: engine/ort/ is onnxruntime-web (see engine/ort/LICENSE); the face detector
is YuNet (models/LICENSE-yunet); models/NOTICE says where the rest comes from.
"""


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "export-web",
        help="write the live page as static files (browser-only analysis, no server)",
        description=(
            "Write the live page, its engine, onnxruntime-web and the shipped models into DIR, "
            "for any static host to serve from its root. The page analyses the camera in the browser; "
            "history, when recorded, stays in the browser's storage."
        ),
    )
    parser.add_argument("dir", type=Path, metavar="DIR", help="a new or empty folder")
    parser.add_argument("--force", action="store_true", help="replace DIR when it is a previous export")
    parser.set_defaults(func=run)


def _static() -> Path:
    # Not through moodlens.service, whose import would need the serve extra.
    return Path(str(resources.files("moodlens"))) / "service" / "static"


def _copy(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)


def write_export(target: Path) -> list[str]:
    """Write the export into ``target`` (created); return its files, relative, sorted."""
    static = _static()
    package = resources.files("moodlens")
    models = Path(str(resources.files("moodlens.models")))
    shared = json.loads(package.joinpath("shared_constants.json").read_text("utf-8"))
    target.mkdir(parents=True)
    html = (static / "index.html").read_text("utf-8")
    if "<head>" not in html:
        raise RuntimeError("static/index.html has no <head>")
    html = html.replace("<head>", f"<head>\n{STATIC_META}", 1)
    # The dashboard and the API pages need a server: no links to them.
    html = re.sub(r'<a href="/(?:dashboard|docs)"[^>]*>[^<]*</a>', "", html)
    # Relative to the page: the folder may be served below a host's root.
    html = re.sub(r'(src|href)="/static/', r'\1="static/', html).replace('<a href="/"', '<a href="./"')
    (target / "index.html").write_text(html, "utf-8")
    for path in sorted(static.iterdir()):
        if path.suffix in (".js", ".css", ".svg") and path.name not in _SERVER_ONLY:
            _copy(path, target / "static" / path.name)
    for path in sorted((static / "engine").glob("*.js")):
        if not path.name.startswith("page-"):
            _copy(path, target / "static" / "engine" / path.name)
    for path in sorted((static / "vendor" / "onnxruntime-web").iterdir()):
        _copy(path, target / "engine" / "ort" / path.name)
    (target / "engine" / "constants.json").write_text(
        package.joinpath("shared_constants.json").read_text("utf-8"), "utf-8"
    )
    names = [shared["detector"]["model"], shared["classifier"]["model"], shared["classifier"]["metadata"]]
    index = {}
    for name in names:
        _copy(models / name, target / "models" / name)
        digest = hashlib.sha256((models / name).read_bytes()).hexdigest()
        index[name] = {
            "sha256": digest,
            "bytes": (models / name).stat().st_size,
            "url": f"{name}?v={digest[:16]}",  # relative to models/ (the page resolves it there)
        }
    (target / "models" / "index.json").write_text(json.dumps({"files": index}, indent=2) + "\n", "utf-8")
    for name in _LICENCES:
        if (models / name).is_file():
            _copy(models / name, target / "models" / name)
    lines = "\n".join(f"  {key}: {value}" for key, value in HEADERS.items())
    (target / "_headers").write_text(f"/*\n{lines}\n", "utf-8")
    from moodlens._version import __version__

    (target / "README.txt").write_text(_README.format(version=__version__, headers=lines), "utf-8")
    (target / MARKER).write_text(f"moodlens {__version__} export-web\n", "utf-8")
    return sorted(str(p.relative_to(target)) for p in target.rglob("*") if p.is_file())


def _swap_contents(target: Path, new: Path, old: Path) -> None:
    """Put ``new``'s entries in ``target`` in place of its own (moved to ``old``), by renames on
    one disk. The folder itself stays: its permissions, owner, and any shell or server sitting in
    it (``export-web .``). If a rename fails, the previous entries are put back."""
    old.mkdir()
    moved_out: list[str] = []
    moved_in: list[str] = []
    try:
        for entry in sorted(p.name for p in target.iterdir()):
            (target / entry).rename(old / entry)
            moved_out.append(entry)
        for entry in sorted(p.name for p in new.iterdir()):
            (new / entry).rename(target / entry)
            moved_in.append(entry)
    except OSError:
        for entry in moved_in:
            (target / entry).rename(new / entry)
        for entry in moved_out:
            (old / entry).rename(target / entry)
        raise


def run(args: argparse.Namespace) -> int:
    # Resolved, so that "." or "site/" name a folder with a name and a parent to write beside it.
    target: Path = Path(args.dir).resolve()
    if target.parent == target:
        print(
            f"moodlens export-web: {args.dir} is the root of the file system; name a folder", file=sys.stderr
        )
        return 2
    if target.exists() and not target.is_dir():
        print(f"moodlens export-web: {target} exists and is not a folder", file=sys.stderr)
        return 2
    if target.is_dir() and any(target.iterdir()):
        if not args.force:
            print(
                f"moodlens export-web: {target} is not empty (--force replaces a previous export)",
                file=sys.stderr,
            )
            return 2
        if not (target / MARKER).is_file():
            print(
                f"moodlens export-web: {target} is not empty and not a previous export; not touched",
                file=sys.stderr,
            )
            return 2
    # Written beside, then moved into place: a failure leaves DIR as it was. The folder it is
    # written in is new (mkdtemp), never one of the user's that happens to be called DIR.tmp.
    target.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".export-web", dir=target.parent))
    tmp = work / target.name  # made by write_export with the user's usual permissions
    try:
        files = write_export(tmp)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    dropped: list[str] = []
    if target.exists():
        dropped = sorted(
            str(p.relative_to(target))
            for p in target.rglob("*")
            if p.is_file() and str(p.relative_to(target)) not in files
        )
        try:
            _swap_contents(target, tmp, work / ".previous")
        finally:
            shutil.rmtree(work, ignore_errors=True)
    else:
        tmp.rename(target)
        work.rmdir()
    if dropped:  # --force replaced a previous export: say what of it the new one does not have
        shown = ", ".join(dropped[:5]) + (f" and {len(dropped) - 5} more" if len(dropped) > 5 else "")
        print(f"moodlens export-web: removed {len(dropped)} file(s) the new export does not write: {shown}")
    size = sum((target / f).stat().st_size for f in files)
    print(
        f"wrote {len(files)} files ({size / 1e6:.1f} MB) to {target}: serve it from a host's root "
        "(README.txt says how)"
    )
    return 0
