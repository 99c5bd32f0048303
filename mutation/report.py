"""Mutation testing of the modules where a silent bug costs most (``make mutate``).

    python mutation/report.py                      # every module, one after the other
    python mutation/report.py rewards checkpoints  # some of them
    python mutation/report.py --report-only        # the last results again, nothing run
    python mutation/report.py --diff rewards       # also print each survivor's diff
    python mutation/report.py --survivors rewards  # after adding tests: rerun the last survivors only

mutmut (configured in ``[tool.mutmut]`` of pyproject.toml) changes one small thing at a time in
the code (``<`` to ``<=``, a constant, a dropped argument...) and runs the tests that executed
the changed function; a mutant the tests do not notice "survives". Per module this prints the
mutants, how many the tests killed, the score (killed / all, where mutants no test reaches
count as survivors) and the score once the survivors judged equivalent in
mutation/EQUIVALENT.md are set aside (each listed there with why), then the other survivors.
One module runs at a time, on ``MUTATE_JOBS`` processes (default 2): the machine is shared.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EQUIVALENT = ROOT / "mutation" / "EQUIVALENT.md"
TIMES = ROOT / "mutants" / "module_times.json"

# module -> mutant name patterns (mutmut names a mutant <module>.x_<function>__mutmut_<n>, or
# <module>.xǁ<Class>ǁ<method>__mutmut_<n>). common.py is only its checkpoint/resume part.
MODULES: dict[str, list[str]] = {
    "rewards": ["reasoning.rewards.*"],
    "answers": ["reasoning.scoring.answers.*"],
    "metrics": ["reasoning.evaluation.metrics.*"],
    "checkpoints": [f"reasoning.stages.common.x_{name}__mutmut_*" for name in
                    ("local_checkpoint_dir", "checkpoint_uri_for", "prepare_checkpoints", "train_with_preemption")],
    "pipeline_params": ["reasoning.pipeline.params.*"],
    "sandbox": ["reasoning.scoring.sandbox.*"],
}
KILLED = {"killed", "timeout", "caught by type check"}


def run_module(name: str, jobs: int, survivors_only: bool = False) -> float:
    env = {**os.environ, "REASONING_SHARED_DATA": str((ROOT.parent / "shared" / "data").resolve())}
    targets = MODULES[name]
    if survivors_only:  # after adding tests: rerun only what survived last time
        targets = [m for m, s in statuses().items() if matches(m, MODULES[name]) and s not in KILLED]
        if not targets:
            return 0.0
    started = time.monotonic()
    subprocess.run([sys.executable, "-m", "mutmut", "run", "--max-children", str(jobs), *targets],
                   cwd=ROOT, env=env, check=False)
    elapsed = time.monotonic() - started
    if not survivors_only:  # the time of a whole module, for the README
        times = json.loads(TIMES.read_text()) if TIMES.exists() else {}
        times[name] = round(elapsed, 1)
        TIMES.write_text(json.dumps(times, indent=2))
    return elapsed


def statuses() -> dict[str, str]:
    """Every mutant's last status, as ``mutmut results --all true`` prints it."""
    result = subprocess.run([sys.executable, "-m", "mutmut", "results", "--all", "true"], cwd=ROOT,
                            capture_output=True, text=True, check=True)
    found = {}
    for line in result.stdout.splitlines():
        mutant, _, status = line.strip().rpartition(": ")
        if mutant:
            found[mutant] = status
    return found


def equivalent_mutants() -> set[str]:
    return set(re.findall(r"^\|\s*`([^`]+__mutmut_\d+)`", EQUIVALENT.read_text(), re.M)) if EQUIVALENT.exists() else set()


def matches(mutant: str, patterns: list[str]) -> bool:
    from fnmatch import fnmatch
    return any(fnmatch(mutant, pattern) for pattern in patterns)


def report(names: list[str], show_diff: bool) -> int:
    every = statuses()
    equivalent = equivalent_mutants()
    times = json.loads(TIMES.read_text()) if TIMES.exists() else {}
    print(f"\n{'module':<16} {'mutants':>7} {'killed':>6} {'score':>6} {'w/o equiv.':>10} {'time':>8}")
    survivors: list[tuple[str, str]] = []
    for name in names:
        mine = {m: s for m, s in every.items() if matches(m, MODULES[name])}
        if not mine:
            print(f"{name:<16} not run yet")
            continue
        killed = sum(s in KILLED for s in mine.values())
        judged = sum(m in equivalent for m, s in mine.items() if s not in KILLED)
        score = killed / len(mine)
        score_eq = killed / max(1, len(mine) - judged)
        seconds = times.get(name)
        print(f"{name:<16} {len(mine):>7} {killed:>6} {score:>6.1%} {score_eq:>10.1%} "
              f"{f'{seconds / 60:.1f} min' if seconds else '':>8}")
        survivors += [(m, s) for m, s in sorted(mine.items()) if s not in KILLED and m not in equivalent]
    if survivors:
        print(f"\n{len(survivors)} surviving mutants not judged equivalent (python -m mutmut show NAME for the diff):")
        for mutant, status in survivors:
            print(f"  {mutant}  [{status}]")
            if show_diff:
                diff = subprocess.run([sys.executable, "-m", "mutmut", "show", mutant], cwd=ROOT,
                                      capture_output=True, text=True).stdout
                print("    " + "\n    ".join(diff.strip().splitlines()[1:]))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("modules", nargs="*", metavar="MODULE",
                        help="modules to run: " + ", ".join(MODULES) + " (default: all)")
    parser.add_argument("--report-only", action="store_true", help="print the last results, run nothing")
    parser.add_argument("--diff", action="store_true", help="print each surviving mutant's diff")
    parser.add_argument("--survivors", action="store_true", help="rerun only the mutants that survived last time")
    parser.add_argument("--jobs", type=int, default=int(os.environ.get("MUTATE_JOBS", "2")))
    args = parser.parse_args(argv)
    names = args.modules or list(MODULES)
    unknown = [name for name in names if name not in MODULES]
    if unknown:
        parser.error(f"unknown module {', '.join(unknown)}; known: {', '.join(MODULES)}")
    if not args.report_only:
        for name in names:
            print(f"== mutating {name}: {' '.join(MODULES[name])}", flush=True)
            elapsed = run_module(name, args.jobs, args.survivors)
            print(f"== {name}: {elapsed / 60:.1f} min", flush=True)
    return report(names, args.diff)


if __name__ == "__main__":
    raise SystemExit(main())
