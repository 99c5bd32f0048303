"""What ``make run STORAGE=s3://...`` adds to a finished run: exporting its final model and report.

    python -m benchmarks.storage_overhead [runs/run-...]     # default: the newest run under runs/

Starts a local SeaweedFS (the test suite's server), exports the run's GRPO model and uploads
its report exactly as ``pipelines.cli run --storage`` does, then fetches the model back into
an empty cache. Compare the seconds printed with the run's own wall time.
"""
from __future__ import annotations

import glob
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path


def main(argv: Sequence[str] | None = None) -> int:
    from reasoning.io import storage
    from reasoning.pipeline import steps as pipeline_steps
    from tests.s3_fixture import S3Server

    args = list(sys.argv[1:] if argv is None else argv)
    runs = sorted(glob.glob("runs/run-*"))
    run = Path(args[0] if args else (runs[-1] if runs else ""))
    models = glob.glob(f"{run}/artifacts/*/reasoning-grpo*/grpo_model")
    if not models:
        print(f"no finished run with a GRPO model under {run or 'runs/'}: run `make run` first", file=sys.stderr)
        return 2
    model = Path(models[0])
    server = S3Server(Path(tempfile.mkdtemp(prefix="storage-overhead-")))
    server.start()
    try:
        os.environ.update(server.env())
        bucket = f"s3://{server.new_bucket()}"
        size = sum(p.stat().st_size for p in model.rglob("*") if p.is_file())
        started = time.perf_counter()
        pipeline_steps.export_model(model, f"{bucket}/models/run")
        export_s = time.perf_counter() - started
        started = time.perf_counter()
        for name in ("report.html", "report.md", "metrics.json", "summary.json"):
            if (run / name).exists():
                storage.upload(run / name, f"{bucket}/reports/run/{name}")
        report_s = time.perf_counter() - started
        os.environ["REASONING_CACHE"] = tempfile.mkdtemp(prefix="storage-overhead-cache-")
        started = time.perf_counter()
        storage.fetch(f"{bucket}/models/run")
        fetch_s = time.perf_counter() - started
    finally:
        server.stop()
    print(f"storage overhead of {run}: model {size / 1e6:.0f} MB export {export_s:.1f} s, "
          f"report upload {report_s:.2f} s, fetch back {fetch_s:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
