"""Keep a training run in the repository so that a later session can resume it (issue 27: runs
that need more CPU than one session has). Writes a copy of RUN that ``moodlens train --resume``
continues from, each file at most 20 MB (the optimizer's momentum in bfloat16), into DEST,
replacing what DEST held:

    python scripts/keep_run.py runs/vgg_s_crowd_v3_long checkpoints/vgg_s_crowd_v3_long

To resume in a new session: copy DEST back to the run folder the config names, and any teacher the
config names to its path, then run the same command with ``--resume`` (docs/training.md).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from moodlens.training.checkpoints import keep_run


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("run", type=Path, help="the run folder (with last.pt)")
    parser.add_argument("dest", type=Path, help="where to keep it (replaced)")
    args = parser.parse_args()
    try:
        kept = keep_run(args.run, args.dest)
    except ValueError as exc:
        print(f"keep_run: {exc}", file=sys.stderr)
        return 1
    for path in kept:
        print(f"{path}: {path.stat().st_size / 2**20:.1f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
