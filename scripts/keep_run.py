"""Keep a training run in the repository so that a later session can resume it (issue 27: runs
that need more CPU than one session has). Writes a copy of RUN that ``moodlens train --resume``
continues from, each file at most 20 MB (the optimizer's momentum in bfloat16; a larger network's
weights in bfloat16 too, and a file still larger in parts), into DEST, replacing what DEST held:

    python scripts/keep_run.py runs/vgg_l_crowd_la checkpoints/vgg_l_crowd_la

To resume in a new session, put it back (its parts joined, their sha256 checked) and run the same
training command with ``--resume`` (docs/training.md):

    python scripts/keep_run.py --restore checkpoints/vgg_l_crowd_la runs/vgg_l_crowd_la
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from moodlens.training.checkpoints import keep_run, restore_run


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("run", type=Path, help="the run folder (with last.pt); with --restore, the kept copy")
    parser.add_argument(
        "dest", type=Path, help="where to keep it (replaced); with --restore, a new run folder"
    )
    parser.add_argument("--restore", action="store_true", help="put a kept copy back into a run folder")
    args = parser.parse_args()
    try:
        kept = restore_run(args.run, args.dest) if args.restore else keep_run(args.run, args.dest)
    except ValueError as exc:
        print(f"keep_run: {exc}", file=sys.stderr)
        return 1
    for path in kept:
        print(f"{path}: {path.stat().st_size / 2**20:.1f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
