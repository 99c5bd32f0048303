"""Publish the compiled pipeline to Kubeflow Pipelines as a new version (the Argo CD PostSync hook).

    KFP_ENDPOINT=http://ml-pipeline.kubeflow:8888 PIPELINE_NAME=reasoning \
    PIPELINE_FILE=pipelines/reasoning_pipeline.yaml python manifests/base/publish_pipeline.py

The same as ``kfp pipeline create -p NAME FILE`` the first time and
``kfp pipeline create-version FILE -v VERSION -p ID`` afterwards, made idempotent: the version
is named after the file's sha256, so re-syncing an unchanged pipeline publishes nothing.
"""
from __future__ import annotations

import hashlib
import os
import sys

IMAGE_SETTINGS = {"reasoning-cpu": "REASONING_CPU_IMAGE", "reasoning-gpu": "REASONING_GPU_IMAGE"}


def version_name(path: str) -> str:
    with open(path, "rb") as handle:
        return "sha256-" + hashlib.sha256(handle.read()).hexdigest()[:16]


def retarget_images(text: str, environ: dict[str, str]) -> tuple[str, dict[str, str]]:
    """The compiled pipeline with every reasoning-cpu / reasoning-gpu executor image replaced by the
    deployment's (REASONING_CPU_IMAGE / REASONING_GPU_IMAGE), so the images are chosen where the
    manifests are deployed, not when the pipeline was compiled. Returns (text, {old: new})."""
    import re

    import yaml
    docs = list(yaml.safe_load_all(text))
    executors = docs[0]["deploymentSpec"]["executors"]
    replaced: dict[str, str] = {}
    for executor in executors.values():
        container = executor.get("container") or {}
        match = re.search(r"/(reasoning-(?:cpu|gpu))[:@]", container.get("image", ""))
        wanted = environ.get(IMAGE_SETTINGS[match.group(1)], "").strip() if match else ""
        if wanted:
            replaced[container["image"]] = wanted
            container["image"] = wanted
    if not replaced:
        return text, {}
    return yaml.safe_dump_all(docs, sort_keys=False), replaced


def version_exists(client, pipeline_id: str, name: str) -> bool:
    import json
    # operation 1 is EQUALS in the KFP v2beta1 filter API (as kfp.Client.get_pipeline_id sends it)
    predicate = {"predicates": [{"operation": 1, "key": "display_name", "stringValue": name}]}
    response = client.list_pipeline_versions(pipeline_id=pipeline_id, page_size=1, filter=json.dumps(predicate))
    return bool(getattr(response, "pipeline_versions", None))


def publish(client, pipeline_file: str, pipeline_name: str, namespace: str | None = None) -> str:
    """Create the pipeline or add a version; return what was done (one line, for the Job log)."""
    version = version_name(pipeline_file)
    pipeline_id = client.get_pipeline_id(pipeline_name)
    if pipeline_id is None:
        # upload_pipeline also makes the file the pipeline's first version
        created = client.upload_pipeline(pipeline_file, pipeline_name=pipeline_name,
                                         description=f"reasoning pipeline ({version})", namespace=namespace)
        return f"created pipeline {pipeline_name} ({created.pipeline_id}) from {version}"
    if version_exists(client, pipeline_id, version):
        return f"pipeline {pipeline_name} already has version {version}: nothing to publish"
    client.upload_pipeline_version(pipeline_file, pipeline_version_name=version, pipeline_id=pipeline_id,
                                   description="published by the Argo CD PostSync hook")
    return f"published version {version} of pipeline {pipeline_name} ({pipeline_id})"


def main() -> int:
    import kfp
    pipeline_file = os.environ.get("PIPELINE_FILE", "/pipeline/reasoning_pipeline.yaml")
    if not os.path.exists(pipeline_file):
        print(f"error: {pipeline_file} does not exist (is the ConfigMap mounted?)", file=sys.stderr)
        return 2
    with open(pipeline_file, encoding="utf-8") as handle:
        text, replaced = retarget_images(handle.read(), dict(os.environ))
    if replaced:
        pipeline_file = os.path.join(os.environ.get("TMPDIR", "/tmp"), "reasoning_pipeline.yaml")
        with open(pipeline_file + ".partial", "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(pipeline_file + ".partial", pipeline_file)
        for old, new in sorted(replaced.items()):
            print(f"image {old} -> {new}", flush=True)
    client = kfp.Client(host=os.environ.get("KFP_ENDPOINT", "http://ml-pipeline.kubeflow:8888"))
    print(publish(client, pipeline_file, os.environ.get("PIPELINE_NAME", "reasoning"),
                  os.environ.get("PIPELINE_NAMESPACE") or None), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
