"""``moodlens image``: apparent expressions of the faces in photos."""

from __future__ import annotations

import argparse
import csv
import glob
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from moodlens.cli.common import add_analyzer_options, build_analyzer, output_clash
from moodlens.cli.profile import DB_HELP, UsageError, add_profile_option, load_profile
from moodlens.labels import LABELS

IMAGE_SUFFIXES = {
    ".jpg",
    ".jpeg",
    ".png",
    ".bmp",
    ".webp",
    ".tif",
    ".tiff",
    ".gif",
    ".pgm",
    ".ppm",
    ".jfif",
}


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "image",
        help="analyse photos: faces and their apparent expressions",
        description=(
            "Find the faces in photos and print each one's apparent expression. A folder or a "
            "glob is processed as a batch with a progress bar; files that cannot be read are "
            "reported at the end and make the exit status 1 (a photo without faces is not an error)."
        ),
        epilog="examples:\n  moodlens image photo.jpg --out annotated.jpg\n"
        "  moodlens image photos/ --output results.jsonl --out annotated/",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("photos", nargs="+", metavar="PHOTO", help="image files, folders or glob patterns")
    parser.add_argument(
        "--out", metavar="FILE|DIR", help="write annotated copies (a folder for several photos)"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object per image instead of text")
    parser.add_argument("--output", metavar="FILE", help="also write results to FILE (.jsonl or .csv)")
    parser.add_argument("--recursive", "-r", action="store_true", help="look into sub-folders too")
    parser.add_argument("--no-bars", action="store_true", help="draw no probability bars")
    add_analyzer_options(parser)
    personal = parser.add_argument_group("personal profile")
    add_profile_option(personal)
    personal.add_argument("--db", metavar="URL", help=DB_HELP)
    parser.set_defaults(func=run)


def _is_folder(item: str) -> bool:
    try:
        return Path(item).is_dir()
    except OSError:
        return False


def _expand(item: str, recursive: bool) -> list[Path] | str:
    """The files an input names, or why it names none."""
    path = Path(item)
    if path.is_dir():
        pattern = "**/*" if recursive else "*"
        found = sorted(p for p in path.glob(pattern) if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        return found or "the folder holds no images"
    if any(ch in item for ch in "*?[") and not path.exists():
        found = sorted(Path(p) for p in glob.glob(item, recursive=recursive) if Path(p).is_file())
        return found or "the pattern matches no file"
    return [path]


def expand_inputs(items: list[str], recursive: bool) -> tuple[list[Path], list[tuple[str, str]]]:
    """Files to process (in order, without repeats) and inputs that matched nothing."""
    files: list[Path] = []
    missing: list[tuple[str, str]] = []
    for item in items:
        try:
            found = _expand(item, recursive)
        except OSError as exc:  # a name too long, a folder that cannot be listed...
            missing.append((item, exc.strerror or str(exc)))
            continue
        if isinstance(found, str):
            missing.append((item, found))
        else:
            files.extend(found)
    seen: set[Path] = set()
    unique = [f for f in files if not (f in seen or seen.add(f))]  # type: ignore[func-returns-value]
    return unique, missing


def _describe(file: str, result: Any) -> Iterator[str]:
    if not result.faces:
        yield f"{file}: no face found"
        return
    for i, face in enumerate(result.faces, 1):
        b = face.box
        top = sorted(zip(LABELS, face.probabilities, strict=True), key=lambda kv: -kv[1])[:3]
        # An uncertain face lists its three leading candidates; a clear one its runners-up.
        shown = top if face.uncertain else top[1:]
        others = ", ".join(f"{name} {p:.2f}" for name, p in shown)
        answer = (
            f"uncertain (top {face.label} {face.confidence:.0%})"
            if face.uncertain
            else f"apparent {face.label} {face.confidence:.0%}"
        )
        if face.profile is not None:
            model = face.model_probabilities
            answer += f" for {face.profile} (model: {LABELS[int(model.argmax())]} {float(model.max()):.0%})"
        yield f"{file}: face {i} at ({b.x1:.0f},{b.y1:.0f})-({b.x2:.0f},{b.y2:.0f}): {answer} ({others})"


def _personalise(result: Any, profile: Any, face: int | None, name: str, unapplied: list[Any]) -> Any:
    """The result with the profile applied to its face; a photo where it is not clear which face
    is the person's keeps the model's reading and is reported (never every face)."""
    from moodlens.personal import ProfileTargetError, personalise

    try:
        return personalise(result, profile, face)
    except ProfileTargetError as exc:
        unapplied.append((name, f"profile {profile.name!r} not applied: {exc}"))
        return result


def _annotated_path(out: Path, source: Path, many: bool) -> Path:
    if not many and out.suffix.lower() in IMAGE_SUFFIXES:
        return out
    name = (
        source.stem
        + "_moodlens"
        + (source.suffix if source.suffix.lower() in {".jpg", ".jpeg", ".png"} else ".png")
    )
    return out / name


def _annotated_paths(out: Path, files: list[Path], many: bool) -> dict[Path, Path]:
    """Each photo's annotated copy, every one its own file: photos whose copies would share a name
    (``a/x.jpg`` and ``b/x.jpg``; ``x.bmp`` and ``x.webp``, both drawn as PNG) get ``_2``, ``_3``
    after the first, in the order given, so no copy overwrites another. Names are compared as the
    file system may (case-insensitively)."""
    taken: set[str] = set()
    paths: dict[Path, Path] = {}
    for source in files:
        target = _annotated_path(out, source, many)
        n = 1
        while str(target).casefold() in taken:
            n += 1
            base = _annotated_path(out, source, many)
            target = base.with_name(f"{base.stem}_{n}{base.suffix}")
        taken.add(str(target).casefold())
        paths[source] = target
    return paths


class _Writer:
    """JSONL or CSV results file, written as ``NAME.partial`` and renamed to ``NAME`` when closed
    (also after Ctrl-C); rows are flushed as they come, so a run that dies keeps them there."""

    def __init__(self, path: Path) -> None:
        from moodlens.pipeline.sinks import reserve_partial

        suffix = path.suffix.lower()
        if suffix not in (".jsonl", ".json", ".csv"):
            raise ValueError(f"--output must end in .jsonl or .csv, got {path.name!r}")
        self.kind = "csv" if suffix == ".csv" else "jsonl"
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)  # as --out makes its folder
            self.partial = reserve_partial(path)
            self.handle: IO[str] = self.partial.open("w", encoding="utf-8", newline="")
        except OSError as exc:
            raise ValueError(f"cannot write {path}: {exc.strerror or exc}") from None
        self.csv = csv.writer(self.handle) if self.kind == "csv" else None
        self.columns = [
            "file",
            "face",
            "x1",
            "y1",
            "x2",
            "y2",
            "score",
            "label",
            "confidence",
            *[f"p_{name}" for name in LABELS],
            "error",
            # With --profile the label and p_ columns are the personal reading.
            "profile",
            "model_label",
            *[f"model_p_{name}" for name in LABELS],
        ]
        if self.csv:
            self.csv.writerow(self.columns)

    def _row(self, **values: Any) -> None:
        # By column name, every row as wide as the header (columns without a value empty), so
        # that each value sits under its own heading and a strict CSV reader takes the file.
        assert self.csv is not None
        self.csv.writerow([values.get(column, "") for column in self.columns])

    def write(self, record: dict[str, Any]) -> None:
        if self.csv is None:
            self.handle.write(json.dumps(record) + "\n")
        elif "error" in record:
            self._row(file=record["file"], error=record["error"])
        elif not record["faces"]:
            self._row(file=record["file"], face=0)
        else:
            for i, face in enumerate(record["faces"], 1):
                x1, y1, x2, y2 = face["box"]
                values = {"file": record["file"], "face": i, "x1": x1, "y1": y1, "x2": x2, "y2": y2}
                values.update(score=face["score"], label=face["label"], confidence=face["confidence"])
                values.update({f"p_{name}": face["probabilities"][name] for name in LABELS})
                model = face.get("model_probabilities")
                if model:
                    values.update(profile=face["profile"], model_label=face["model_label"])
                    values.update({f"model_p_{name}": model[name] for name in LABELS})
                self._row(**values)
        self.handle.flush()

    def close(self, *, cut: bool = False, failed: bool = False) -> Path:
        """Close the file and rename it into place; a run ``cut`` short (Ctrl-C) leaves a file
        already at the name (an earlier result) as it was, and a run that ``failed``
        leaves what it wrote as ``NAME.partial``. Returns where the file is."""
        from moodlens.pipeline.sinks import finish_output

        self.handle.close()
        return finish_output(self.partial, self.path, cut=cut, failed=failed)


def _output_problem(
    out: Path | None, many: bool, files: list[Path], output: str | None, *, named_as_folder: bool = False
) -> str | None:
    """Why the outputs cannot be written, before any work: ``--out`` naming an image file for
    several photos (it must be a folder), or an output (an annotated copy, the results file) that
    is one of the photos."""
    if out is not None and not _is_folder(str(out)):
        image_name = out.suffix.lower() in IMAGE_SUFFIXES
        # An existing file where a folder is needed, or a photo's name for several photos (it
        # would become a folder named like a photo).
        if (out.exists() and (many or not image_name)) or (many and image_name):
            return f"--out {out} must be a folder when several photos are given"
        if not many and not image_name and out.suffix and not named_as_folder:
            # out.txt for one photo: a mistyped image name far more often than a new folder.
            return (
                f"--out {out}: the annotated copy of one photo is an image (.jpg, .png, .bmp, .webp...); "
                "to write it into a new folder of that name, end the name with /"
            )
    targets = [("--out", t) for t in _annotated_paths(out, files, many).values()] if out is not None else []
    # The annotated copies are each their own file (_annotated_paths): only inputs are protected.
    return output_clash([("--output", output)], files) or output_clash(
        targets, files, apart=False, partial=False
    )


def _write_image(target: Path, image: Any, cv2: Any) -> str | None:
    """Encode by the target's suffix and write it whole (a temporary name renamed into place);
    returns why it could not, or None."""
    from moodlens.pipeline.sinks import write_atomically

    try:
        ok, encoded = cv2.imencode(target.suffix.lower(), image)
    except cv2.error:
        ok = False
    if not ok:
        return f"cannot encode an image as {target.suffix}"
    try:
        write_atomically(target, encoded.tobytes())
    except OSError as exc:
        return exc.strerror or str(exc)
    return None


def run(args: argparse.Namespace) -> int:
    import cv2

    from moodlens.errors import MoodlensError
    from moodlens.images import read_image
    from moodlens.render import default_annotator

    files, failures = expand_inputs(args.photos, args.recursive)
    unapplied: list[tuple[str, str]] = []  # photos read without the profile asked for, and why
    many = len(files) > 1 or any(_is_folder(p) or any(c in p for c in "*?[") for p in args.photos)
    out = Path(args.out) if args.out else None
    named_as_folder = bool(args.out) and args.out.endswith(("/", os.sep))
    problem = _output_problem(out, many, files, args.output, named_as_folder=named_as_folder)
    if problem is not None:
        print(f"moodlens image: error: {problem}", file=sys.stderr)
        return 2
    copies = _annotated_paths(out, files, many) if out is not None else {}
    try:
        analyzer = build_analyzer(args)
        profile = load_profile(args.profile, args.db, analyzer.classifier)
    except (ValueError, UsageError) as exc:
        print(f"moodlens image: error: {exc}", file=sys.stderr)
        return 2
    if out is not None:
        # The folder of the copies (or of the one copy) is made before any work, once the
        # settings were accepted (a refused run leaves no empty folder), as a folder --out.
        folder = out if many or out.suffix.lower() not in IMAGE_SUFFIXES else out.parent
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            print(
                f"moodlens image: error: cannot create {folder}: {exc.strerror or exc}",
                file=sys.stderr,
            )
            return 2
    try:
        writer = _Writer(Path(args.output)) if args.output else None
    except ValueError as exc:
        print(f"moodlens image: error: {exc}", file=sys.stderr)
        return 2
    annotator = default_annotator(bars=not args.no_bars)
    progress = None
    if many and sys.stderr.isatty():
        from tqdm.auto import tqdm

        progress = tqdm(total=len(files), unit="image", dynamic_ncols=True)
    faces_total = 0
    written = 0  # annotated copies written
    outcome = "failed"  # "done" after the last photo, "cut" on Ctrl-C
    try:
        for path in files:
            name = str(path)
            try:
                image = read_image(path, max_pixels=args.max_pixels)
                result = analyzer.analyze(image)
                if profile is not None:
                    result = _personalise(result, profile, args.profile.face, name, unapplied)
            except MoodlensError as exc:
                failures.append((name, str(exc).removeprefix(f"{name}: ")))
                record: dict[str, Any] = {"file": name, "error": str(exc)}
                if args.json:
                    print(json.dumps(record), flush=True)
                if writer:
                    writer.write(record)
                if progress:
                    progress.update()
                continue
            faces_total += len(result.faces)
            record = {"file": name, **result.to_dict()}
            record.pop("timings_ms", None)
            if unapplied and unapplied[-1][0] == name:
                # The photo was read, but not through the profile: the record says why.
                record["profile_error"] = unapplied[-1][1]
            if args.json:
                print(json.dumps(record), flush=True)
            else:
                for line in _describe(name, result):
                    if progress is None:
                        print(line, flush=True)
                    else:
                        # Above the progress bar, on stdout: a batch in a terminal shows every face.
                        progress.write(line, file=sys.stdout)
            if writer:
                writer.write(record)
            if out is not None:
                target = copies[path]
                drawn = annotator.annotate(image.copy(), result)
                why = _write_image(target, drawn, cv2)
                if why is not None:
                    failures.append((name, f"cannot write the annotated copy to {target}: {why}"))
                else:
                    written += 1
            if progress:
                progress.update()
                progress.set_postfix(faces=faces_total, failed=len(failures), refresh=False)
        outcome = "done"
    except KeyboardInterrupt:
        outcome = "cut"
        raise
    finally:
        if progress:
            progress.close()
        if writer:
            where = writer.close(cut=outcome == "cut", failed=outcome == "failed")
            if outcome == "cut" and where != writer.path:
                print(
                    f"interrupted: {writer.path} (an earlier result) is left as it was; "
                    f"this run's shorter one is {where}",
                    file=sys.stderr,
                )
    if many and not args.json:
        print(
            f"{len(files)} image(s), {faces_total} face(s), {len(failures)} failure(s)"
            + (f", {len(unapplied)} without the profile" if unapplied else ""),
            file=sys.stderr,
        )
    if out is not None and written == 1 and not many:
        print(f"annotated copy: {copies[files[0]]}", file=sys.stderr)
    elif out is not None and written:
        print(f"annotated copies: {out}", file=sys.stderr)
    if writer:
        print(f"results: {args.output}", file=sys.stderr)
    if unapplied:
        # Read and reported, but not as asked: said apart from the photos that could not be read.
        print(f"{len(unapplied)} photo(s) kept the model's reading:", file=sys.stderr)
        for name, reason in unapplied:
            print(f"  {name}: {reason}", file=sys.stderr)
    if failures:
        print(f"{len(failures)} input(s) could not be processed:", file=sys.stderr)
        for name, reason in failures:
            print(f"  {name}: {reason}", file=sys.stderr)
    return 1 if failures or unapplied else 0
