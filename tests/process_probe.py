"""Find processes by an argument on their command line: the sandbox tests give each hostile program
a unique marker argument and check that no process carrying it outlives the sandbox."""
from __future__ import annotations

import os
from pathlib import Path


def processes_with(argument: str) -> list[int]:
    """Pids of live processes with ``argument`` as one of their command-line arguments."""
    found = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                if argument in Path(f"/proc/{pid}/cmdline").read_bytes().decode("utf-8", "replace").split("\0"):
                    found.append(int(pid))
            except OSError:  # the process ended while we looked
                pass
    return found
