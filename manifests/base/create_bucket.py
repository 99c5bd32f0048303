"""Create the object-store buckets the pipeline writes to (an Argo CD Sync hook Job; idempotent).

    AWS_ENDPOINT_URL=http://minio:9000 AWS_ACCESS_KEY_ID=... AWS_SECRET_ACCESS_KEY=... \
    BUCKETS=reasoning python manifests/base/create_bucket.py

Runs in every overlay (a managed store in production too), with the endpoint and credentials of
the reasoning-object-store Secret and the same S3 client the stages use, so a bucket that the
pipeline can write is the bucket this creates. Retries while the endpoint is not up yet.
"""
from __future__ import annotations

import os
import sys
import time


def ensure_buckets(names: list[str], attempts: int = 30, wait_s: float = 10.0) -> list[str]:
    """Create each missing bucket; return what was done, one line per bucket."""
    from reasoning.errors import StorageError
    from reasoning.io.s3client import client_for, parse_uri
    done = []
    for name in names:
        for attempt in range(1, attempts + 1):
            try:
                client, _ = client_for(parse_uri(f"s3://{name}/"))
                if client.bucket_exists(name):
                    done.append(f"bucket {name} exists")
                else:
                    client.make_bucket(name)
                    done.append(f"bucket {name} created")
                break
            except (OSError, StorageError) as exc:  # endpoint not reachable yet (a MinIO still starting)
                if attempt == attempts:
                    raise
                print(f"bucket {name}: attempt {attempt} failed ({type(exc).__name__}); retrying", flush=True)
                time.sleep(wait_s)
    return done


def main() -> int:
    names = [n.strip() for n in os.environ.get("BUCKETS", "reasoning").split(",") if n.strip()]
    if not names:
        print("error: BUCKETS is empty", file=sys.stderr)
        return 2
    for line in ensure_buckets(names):
        print(line, flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
