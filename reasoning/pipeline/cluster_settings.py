"""The settings a cluster gives the pipeline, checked before any pod of the run starts.

Two sources, both named in every error:

- the ``reasoning-settings`` ConfigMap (manifests/base/kustomization.yaml), which every
  pipeline task sees as environment variables (``kfp.kubernetes.use_config_map_as_env``);
- the ``reasoning-object-store`` Secret (S3 credentials) and the optional
  ``reasoning-hf-token`` Secret (``HF_TOKEN``), also as environment variables.

``validate_parameters`` (the pipeline's first task) calls ``check_cluster_settings`` so that a
typo in a toleration or a quantity fails in seconds with the key named, instead of a TrainJob
that stays Pending or is rejected an hour into the run. ``reasoning.pipeline.launch`` reads the same
values through ``cluster_settings``.

    python -c "import os; from reasoning.pipeline.cluster_settings import cluster_settings; print(cluster_settings(os.environ))"
"""
from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from typing import Any

from reasoning.errors import InputError

SETTINGS_CONFIG_MAP = "reasoning-settings"
OBJECT_STORE_SECRET = "reasoning-object-store"
OBJECT_STORE_KEYS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_ENDPOINT_URL")
HF_TOKEN_SECRET = "reasoning-hf-token"
# Every key of the ConfigMap, with its default where the ConfigMap (or the key) is absent.
DEFAULTS = {
    "REASONING_CPU_IMAGE": "",
    "REASONING_GPU_IMAGE": "",
    "REASONING_GPU_NODE_SELECTOR": "{}",
    "REASONING_GPU_TOLERATIONS": "[]",
    "REASONING_TRAIN_CPU": "8",
    "REASONING_TRAIN_MEMORY": "64Gi",
    # which TrainJob fields the installed Kubeflow Trainer accepts (see reasoning.pipeline.trainjob)
    "REASONING_TRAINER_VERSION": "auto",
    # a multi-node job that has not finished after this long is deleted and the step fails
    "REASONING_JOB_TIMEOUT_SECONDS": str(3 * 24 * 3600),
    # ... and one whose pods cannot be scheduled for this long (no GPUs free, a taint not tolerated)
    "REASONING_PENDING_TIMEOUT_SECONDS": "1800",
    # "1": only local/builtin models and the image's cache; "0": Hub model ids download (HF_TOKEN Secret)
    "HF_HUB_OFFLINE": "1",
}
TRAINER_VERSIONS = ("auto", "v2.0", "v2.1", "v2.2", "pytorchjob")
TOLERATION_KEYS = {"key", "operator", "value", "effect", "tolerationSeconds"}
TOLERATION_OPERATORS = ("Exists", "Equal")
TOLERATION_EFFECTS = ("", "NoSchedule", "PreferNoSchedule", "NoExecute")
# Kubernetes resource.Quantity: a number with an optional binary/decimal suffix or exponent.
QUANTITY = re.compile(r"^[+]?(\d+(\.\d*)?|\.\d+)(Ki|Mi|Gi|Ti|Pi|Ei|m|k|M|G|T|P|E|[eE][+-]?\d+)?$")
# A label key: optional DNS prefix, then a name of at most 63 characters.
LABEL_KEY = re.compile(r"^([a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$")
LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$")


def _where(key: str) -> str:
    return f"ConfigMap {SETTINGS_CONFIG_MAP} key {key}"


def _json(environ: Mapping[str, str], key: str, kind: type) -> Any:
    text = (environ.get(key) or DEFAULTS[key]).strip()
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise InputError(f"not valid JSON ({exc}): {text!r}", field=_where(key)) from None
    if not isinstance(value, kind):
        raise InputError(f"must be a JSON {'object' if kind is dict else 'list'}, got {text!r}", field=_where(key))
    return value


def node_selector(environ: Mapping[str, str], key: str = "REASONING_GPU_NODE_SELECTOR") -> dict[str, str]:
    selector = _json(environ, key, dict)
    for label, value in selector.items():
        if not LABEL_KEY.match(label):
            raise InputError(f"{label!r} is not a valid node label key", field=_where(key))
        if not isinstance(value, str) or not LABEL_VALUE.match(value):
            raise InputError(f"the value of {label!r} must be a label value string (quote it), got {value!r}",
                             field=_where(key))
    return selector


def tolerations(environ: Mapping[str, str], key: str = "REASONING_GPU_TOLERATIONS") -> list[dict[str, Any]]:
    items = _json(environ, key, list)
    for index, item in enumerate(items):
        where = f"{_where(key)}[{index}]"
        if not isinstance(item, dict):
            raise InputError(f"each toleration must be an object, got {item!r}", field=where)
        unknown = set(item) - TOLERATION_KEYS
        if unknown:
            raise InputError(f"unknown toleration field(s) {sorted(unknown)}; known: {sorted(TOLERATION_KEYS)}",
                             field=where)
        operator = item.get("operator", "Equal")
        if operator not in TOLERATION_OPERATORS:
            raise InputError(f"operator must be one of {TOLERATION_OPERATORS}, got {operator!r}", field=where)
        if operator == "Exists" and item.get("value"):
            raise InputError("operator Exists takes no value", field=where)
        if operator == "Equal" and not item.get("key"):
            raise InputError("operator Equal needs a key", field=where)
        if item.get("effect", "") not in TOLERATION_EFFECTS:
            raise InputError(f"effect must be one of {TOLERATION_EFFECTS[1:]}, got {item.get('effect')!r}",
                             field=where)
        seconds = item.get("tolerationSeconds")
        if seconds is not None and (not isinstance(seconds, int) or isinstance(seconds, bool)):
            raise InputError(f"tolerationSeconds must be an integer, got {seconds!r}", field=where)
    return items


def _quantity(environ: Mapping[str, str], key: str) -> str:
    value = (environ.get(key) or DEFAULTS[key]).strip()
    if not QUANTITY.match(value):
        raise InputError(f"not a Kubernetes quantity (e.g. 8, 500m, 64Gi): {value!r}", field=_where(key))
    return value


def _seconds(environ: Mapping[str, str], key: str) -> int:
    text = (environ.get(key) or DEFAULTS[key]).strip()
    if not text.isdigit() or int(text) <= 0:
        raise InputError(f"must be a whole number of seconds > 0, got {text!r}", field=_where(key))
    return int(text)


def _choice(environ: Mapping[str, str], key: str, choices: tuple[str, ...]) -> str:
    value = (environ.get(key) or DEFAULTS[key]).strip()
    if value not in choices:
        raise InputError(f"must be one of {', '.join(choices)}, got {value!r}", field=_where(key))
    return value


def _image(environ: Mapping[str, str], key: str) -> str:
    value = (environ.get(key) or "").strip()
    if value and (any(c.isspace() for c in value) or not re.search(r"(:[\w][\w.-]*|@sha256:[0-9a-f]{64})$", value)):
        raise InputError(f"must be an image reference with a tag or digest (registry/name:tag), got {value!r}",
                         field=_where(key))
    return value


def cluster_settings(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Every setting of the ConfigMap, parsed and checked (defaults for missing keys)."""
    environ = os.environ if environ is None else environ
    return {
        "cpu": _quantity(environ, "REASONING_TRAIN_CPU"),
        "memory": _quantity(environ, "REASONING_TRAIN_MEMORY"),
        "node_selector": node_selector(environ),
        "tolerations": tolerations(environ),
        "trainer_version": _choice(environ, "REASONING_TRAINER_VERSION", TRAINER_VERSIONS),
        "timeout_s": _seconds(environ, "REASONING_JOB_TIMEOUT_SECONDS"),
        "pending_timeout_s": _seconds(environ, "REASONING_PENDING_TIMEOUT_SECONDS"),
        "hf_hub_offline": _choice(environ, "HF_HUB_OFFLINE", ("0", "1")),
        "cpu_image": _image(environ, "REASONING_CPU_IMAGE"),
        "gpu_image": _image(environ, "REASONING_GPU_IMAGE"),
    }


def job_options(settings: Mapping[str, Any]) -> dict[str, Any]:
    """The subset reasoning.pipeline.launch passes to the TrainJob/PyTorchJob builders."""
    return {key: settings[key] for key in ("cpu", "memory", "node_selector", "tolerations")}


def check_object_store_secret(uris: list[str], environ: Mapping[str, str] | None = None) -> None:
    """In a pod: if the run reads or writes object storage, the Secret's keys must have arrived."""
    environ = os.environ if environ is None else environ
    remote = [u for u in uris if str(u).startswith(("s3://", "minio://"))]
    if not remote or "KUBERNETES_SERVICE_HOST" not in environ:
        return  # outside a pod credentials come from wherever the user keeps them
    for key in OBJECT_STORE_KEYS[:2]:
        if not environ.get(key):
            raise InputError(f"{remote[0]} needs object-store credentials, but the key is missing (is the Secret "
                             f"{OBJECT_STORE_SECRET} created in this namespace, with this key?)",
                             field=f"Secret {OBJECT_STORE_SECRET} key {key}")


def check_cluster_settings(uris: list[str], environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Both checks at once (what the validate task runs); returns the parsed settings."""
    settings = cluster_settings(environ)
    check_object_store_secret(uris, environ)
    return settings
