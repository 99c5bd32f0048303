"""Multipart uploads: the part size chosen for a file and the number of parts the server stores."""
from __future__ import annotations

import os

import pytest

from reasoning.io import storage
from reasoning.io.s3client import TransferTuning, parse_uri

MB = 1024 * 1024
GB = 1024 * MB


@pytest.mark.parametrize("part_mb, size, part", [
    (16, 0, 16 * MB),
    (16, 100 * GB, 16 * MB),                       # 6,400 parts of 16 MiB
    (16, 16 * MB * 10_000, 16 * MB),               # exactly 10,000 parts still fits
    (16, 16 * MB * 10_000 + 1, 32 * MB),           # one byte more: doubled, 5,001 parts
    (16, 5 * 1024 * GB, 1024 * MB),                # 5 TiB (S3's object limit): 5,120 parts of 1 GiB
    (5, 12 * MB, 5 * MB),
    (1, 12 * MB, 5 * MB),                          # never below S3's 5 MiB minimum part
])
def test_part_size_keeps_within_s3_limits(part_mb, size, part):
    chosen = TransferTuning(endpoint="test", part_mb=part_mb).part_size_for(size)
    assert chosen == part
    assert -(-size // chosen) <= 10_000


@pytest.mark.s3
def test_a_file_over_the_part_size_is_stored_in_the_expected_number_of_parts(s3_env, tmp_path, monkeypatch):
    """12 MiB in 5 MiB parts is 3 parts; S3 reports a multipart object's part count in its ETag ("<md5>-3")."""
    server, bucket = s3_env
    monkeypatch.setenv("REASONING_S3_PART_MB", "5")
    model = tmp_path / "model"
    model.mkdir()
    (model / "weights.bin").write_bytes(os.urandom(12 * MB))
    (model / "config.json").write_text("{}")
    storage.upload(model, f"{bucket}/m")
    loc = parse_uri(f"{bucket}/m/weights.bin")
    etag = server.client().stat_object(loc.bucket, loc.key).etag.strip('"')
    assert etag.endswith("-3"), etag
    assert storage.fetch(f"{bucket}/m").joinpath("weights.bin").read_bytes() == (model / "weights.bin").read_bytes()
