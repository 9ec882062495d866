"""Run one pipeline stage and report its wall time and peak memory.

    python scripts/stage_stats.py LABEL TAG -- COMMAND [ARGS...]

Prints "[TAG] LABEL: 12 s, peak RSS 1234 MB" after the command ends and exits with its exit code.
Peak RSS is the largest resident set of any process the stage ran (the kernel's per-child maximum,
which covers grandchildren such as the ranks of torch.distributed.run once they are reaped).
With $STAGE_STATS_LOG set, one JSON line per stage is also appended there (the benchmarks read it).
Standard library only, so it runs before the virtualenv exists.
"""

import json
import os
import resource
import subprocess
import sys
import time


def main() -> int:
    if len(sys.argv) < 5 or sys.argv[3] != "--":
        print("usage: stage_stats.py LABEL TAG -- COMMAND [ARGS...]", file=sys.stderr)
        return 2
    label, tag, command = sys.argv[1], sys.argv[2], sys.argv[4:]
    started = time.monotonic()
    code = subprocess.call(command)
    seconds = time.monotonic() - started
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # Linux reports KiB
    print(f"[{tag}] {label}: {seconds:.0f} s, peak RSS {peak_mb:.0f} MB", flush=True)
    log = os.environ.get("STAGE_STATS_LOG")
    if log:
        with open(log, "a", encoding="utf-8") as handle:
            handle.write(json.dumps({"tag": tag, "stage": label, "seconds": round(seconds, 1),
                                     "peak_rss_mb": round(peak_mb), "exit_code": code}) + "\n")
    return code


if __name__ == "__main__":
    sys.exit(main())
