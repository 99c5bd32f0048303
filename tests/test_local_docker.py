"""The docker runner's checks and environment, without an engine (the engine runs in test_containers.py)."""
from __future__ import annotations

import pytest

from pipelines.local_docker import EngineError, check_engine, forwarded_environment
from reasoning.pipeline.params import load_pipeline_recipe
from tests.test_pipeline_local import ROOT


def test_no_engine_is_named_with_what_to_run_before_anything_starts(monkeypatch, tmp_path):
    from pipelines.cli import run_locally
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-engine.sock")
    with pytest.raises(EngineError, match=r"no container engine answers at unix://.*no-engine.sock.*images/engine.sh start"):
        check_engine("localhost/reasoning-cpu:dev")
    params = load_pipeline_recipe(ROOT / "recipes" / "pipeline_tiny_ci.yaml")
    with pytest.raises(EngineError) as info:
        run_locally(params, tmp_path / "runs", run_name="x", runner="docker")
    assert info.value.field == "--runner"
    assert not list((tmp_path / "runs" / "x" / "artifacts").glob("*"))


def test_unknown_runner_is_refused(tmp_path):
    from pipelines.cli import main
    with pytest.raises(SystemExit):
        main(["run", "--runner", "kubernetes", "--output-dir", str(tmp_path)])
    from pipelines.cli import run_locally
    from reasoning.errors import InputError
    with pytest.raises(InputError, match="unknown runner 'podman'"):
        run_locally({}, tmp_path, runner="podman")


def test_only_object_store_settings_reach_the_containers():
    environ = {"AWS_ACCESS_KEY_ID": "key", "AWS_SECRET_ACCESS_KEY": "secret", "AWS_ENDPOINT_URL": "http://127.0.0.1:1",
               "REASONING_S3_ATTEMPTS": "2", "REASONING_CACHE": "/host/cache", "AWS_CA_BUNDLE": "/host/ca.pem",
               "HOME": "/root", "PATH": "/usr/bin", "OPENAI_API_KEY": "x"}
    assert forwarded_environment(environ) == {"AWS_ACCESS_KEY_ID": "key", "AWS_SECRET_ACCESS_KEY": "secret",
                                              "AWS_ENDPOINT_URL": "http://127.0.0.1:1", "REASONING_S3_ATTEMPTS": "2"}
