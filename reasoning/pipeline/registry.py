"""Register a promoted model in Kubeflow Model Registry, with the lineage its artifacts carry.

The pipeline's gated step ``register_model`` (components/register_model) calls
``register_promoted_model``: one registered model (``registered_model_name``), one version per
KFP run (named by the run id), one model artifact pointing at the exported copy
(``export_destination``, what KServe and others load), and on the version the lineage as custom
properties: the base model and the training dataset (spec, sha256), each stage's settings and a
digest of its full config, the final training metrics, the evaluation's accuracy per model and
dataset, and why the model was promoted.

    python -c "from reasoning.pipeline.registry import check_registry_address as c; print(c('http://model-registry-service.kubeflow:8080'))"

The client is Kubeflow's own (PyPI ``model-registry``, extra ``registry``), imported only when a
registration runs. The token (Secret ``reasoning-model-registry``, key ``MODEL_REGISTRY_TOKEN``)
is never logged, written or put in an error; without one, the client sends the pod's
ServiceAccount token, which is what a Model Registry behind kube-rbac-proxy or Istio expects.
This module never imports kfp.
"""
from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from reasoning.errors import InputError, has_uri_credentials

TOKEN_SECRET = "reasoning-model-registry"
TOKEN_ENV = "MODEL_REGISTRY_TOKEN"
# KServe's Hugging Face runtime declares the format ("huggingface", version "1"): the registry's
# "deploy" action matches a ServingRuntime by these two values.
MODEL_FORMAT_NAME, MODEL_FORMAT_VERSION = "huggingface", "1"
DEFAULT_AUTHOR = "reasoning-pipeline"
# The spec's pattern for names in queries (``GET /registered_model?name=``): printable ASCII.
NAME_PATTERN = re.compile(r"^[\x20-\x7E]{1,255}$")
# The settings of a stage worth reading in the registry UI; the whole config is in its digest
# (and in the model's resolved_config.yaml).
STAGE_KEYS = ("use_lora", "lora_r", "learning_rate", "epochs", "max_steps", "iterations", "batch_size",
              "group_size", "max_length", "max_completion_length", "dynamic_sampling", "loss_type", "beta",
              "target_context", "scaling_type", "steps", "seed", "limit", "correctness_weight", "format_weight",
              "consistency_weight", "length_weight", "process_weight")
EVAL_METRICS = ("accuracy", "format_compliance")
MAX_TEXT = 2000  # a custom property is a database string; keep each one readable


class RegistryError(RuntimeError):
    """A registration the registry refused or could not take (the address named, never the token)."""


def check_registry_address(address: str, name: str = "model_registry_address") -> str:
    """``http(s)://host[:port]`` with the port made explicit (the client's defaults: 8080 for http,
    443 for https). Credentials in the URI, a path, query or fragment are refused, naming ``name``."""
    text = str(address or "").strip()
    if has_uri_credentials(text):
        raise InputError("must not carry credentials (user:password@): put the token in the Secret "
                         f"{TOKEN_SECRET}, key {TOKEN_ENV}; got {text!r}", field=name)
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InputError(f"must be http://host[:port] or https://host[:port], got {text!r}", field=name)
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise InputError(f"must be only scheme, host and port (the client adds the API path), got {text!r}",
                         field=name)
    try:
        port = parts.port
    except ValueError:
        raise InputError(f"has no valid port (1-65535), got {text!r}", field=name) from None
    if port == 0:
        raise InputError(f"has no valid port (1-65535), got {text!r}", field=name)
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return f"{parts.scheme}://{host}:{port or (8080 if parts.scheme == 'http' else 443)}"


def check_registered_model_name(value: str, name: str = "registered_model_name") -> str:
    if not NAME_PATTERN.match(str(value or "")) or value != value.strip():
        raise InputError(f"must be 1-255 printable ASCII characters without leading or trailing spaces, got "
                         f"{value!r}", field=name)
    return value


@dataclass(frozen=True)
class RegistrySettings:
    """Where and as whom to register; checked before any call. ``token`` never shows in a repr."""
    address: str
    registered_model_name: str
    author: str = DEFAULT_AUTHOR
    token: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "address", check_registry_address(self.address))
        check_registered_model_name(self.registered_model_name)
        check_registered_model_name(self.author, "author")
        if self.token is not None:
            token = self.token.strip()  # a token file's trailing newline
            if not token or any(c.isspace() or not c.isprintable() for c in token):
                # the value itself is never repeated: it is a credential
                raise InputError(f"the token is empty or holds whitespace or control characters "
                                 f"(Secret {TOKEN_SECRET}, key {TOKEN_ENV})", field=TOKEN_ENV)
            object.__setattr__(self, "token", token)

    @property
    def is_secure(self) -> bool:
        return self.address.startswith("https://")


# ------------------------------------------------------------------ lineage

def _digest(config: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()


def _text(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 3] + "..."


def _scalar(value: Any) -> bool | int | float | str | None:
    if value is None:
        return None
    if isinstance(value, (bool, int, float)):
        return value
    return _text(value)


def lineage_properties(*, final: dict[str, Any], stages: list[dict[str, Any]], base_model: dict[str, Any],
                       dataset: dict[str, Any], eval_results: dict[str, Any], promotion_reason: str,
                       run_id: str) -> dict[str, bool | int | float | str]:
    """The version's custom properties (flat name -> bool/int/float/str, what the registry stores).

    ``final`` and ``stages`` are ``reasoning_artifact.json`` of the final model and of the models
    before it (reasoning.io.artifacts); ``base_model`` and ``dataset`` the metadata of the imported
    base model and training set (their ``source`` is the spec the run was given: a KFP task's
    local paths mean nothing in the registry); ``eval_results`` is metrics.json's "results".
    """
    from reasoning import __version__
    from reasoning.pipeline.promotion import mean_metric

    properties: dict[str, Any] = {
        "base_model": base_model.get("source") or base_model.get("base_model"),
        "base_model_sha256": base_model.get("sha256"),
        "dataset": dataset.get("source"),
        "dataset_rows": dataset.get("rows"),
        "dataset_sha256": dataset.get("sha256"),
        "model_sha256": final.get("sha256"),
        "model_parameters": final.get("parameters"),
        "promotion": promotion_reason,
        "kfp_run_id": run_id,
        "reasoning_version": final.get("reasoning_version") or __version__,
    }
    seen = set()
    for metadata in [*stages, final]:
        stage, config = metadata.get("stage"), metadata.get("config") or {}
        if not stage or stage in seen:
            continue
        seen.add(stage)
        properties[f"stage/{stage}/config_sha256"] = _digest(config)
        properties[f"stage/{stage}/settings"] = {k: config[k] for k in STAGE_KEYS if k in config}
    for key, value in sorted((final.get("metrics") or {}).items()):
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            properties[f"train/{final.get('stage')}/{key}"] = value
    for model in sorted(eval_results):
        for metric in EVAL_METRICS:
            mean, per_dataset = mean_metric(eval_results, model, metric)
            for dataset_name, value in sorted(per_dataset.items()):
                properties[f"eval/{model}/{dataset_name}/{metric}"] = float(value)
            if mean is not None:
                properties[f"eval/{model}/mean_{metric}"] = float(mean)
    return {key: scalar for key, value in properties.items() if (scalar := _scalar(value)) is not None}


# ------------------------------------------------------------------ the registry calls

def connect(settings: RegistrySettings):
    """The client, after its first call (it lists one registered model, which checks address and token)."""
    try:
        from model_registry import ModelRegistry
    except ImportError:
        raise RegistryError("the Model Registry client is not installed: pip install 'reasoning[registry]' "
                            "(the CPU image has it)") from None
    try:
        # asyncio.run as the runner: the client otherwise patches the process's event loop
        # (nest_asyncio) for good; each call here is a complete request anyway.
        return ModelRegistry(settings.address, author=settings.author, is_secure=settings.is_secure,
                             user_token=settings.token, async_runner=asyncio.run, log_level=logging.ERROR)
    except Exception as exc:  # noqa: BLE001 - aiohttp, the generated client and StoreError all end here
        hint = ("; a server that serves only /api/model_registry/v1alpha3 needs the client model-registry==0.3.11"
                if getattr(exc, "status", None) == 404 else "")
        raise RegistryError(f"cannot use Model Registry at {settings.address}: {_reason(exc, settings)}{hint}") \
            from None


def _reason(exc: Exception, settings: RegistrySettings) -> str:
    """A short reason: the HTTP status and the server's message, never the token or headers."""
    status, body = getattr(exc, "status", None), getattr(exc, "body", None)
    text = f"HTTP {status}: {str(body)[:300]}" if status else f"{type(exc).__name__}: {str(exc)[:300]}"
    if settings.token:
        text = text.replace(settings.token, "***")
    return text


def register_model_version(settings: RegistrySettings, *, version: str, uri: str,
                           properties: dict[str, Any], description: str = "", client: Any = None) -> dict[str, Any]:
    """Register ``uri`` as version ``version`` of ``settings.registered_model_name``; returns the ids.

    Safe to retry (KFP retries this step): an existing registered model gets the new version;
    an existing version of the same model (same ``model_sha256``) is reused, and completed with
    its model artifact when an earlier try stopped before that call. A version of that name that
    holds another model is refused: a run id names one model."""
    name = settings.registered_model_name
    check_registered_model_name(version, "run_id")
    if version.startswith("{{"):
        raise InputError(f"the KFP run id was not filled in ({version!r}): a version needs the run's id", field="run_id")
    if has_uri_credentials(uri):
        raise InputError("must not carry credentials", field="export_destination")
    client = client or connect(settings)
    try:
        existing = client.get_model_version(name, version) if client.get_registered_model(name) else None
        reused = existing is not None
        if existing is not None:
            registered_sha = (existing.custom_properties or {}).get("model_sha256")
            if registered_sha != properties.get("model_sha256"):
                raise RegistryError(f"version {version!r} of registered model {name!r} at {settings.address} "
                                    f"already holds another model (sha256 {registered_sha}); a run id names one "
                                    "model: delete that version or register under another registered_model_name")
            artifact = client.get_model_artifact(name, version)
            if artifact is None:
                # an earlier try created the version and stopped before its artifact: finish it
                # (the public register_model would refuse the existing version)
                artifact = client.async_runner(client._register_model_artifact(
                    existing, name, uri, model_format_name=MODEL_FORMAT_NAME,
                    model_format_version=MODEL_FORMAT_VERSION))
            elif artifact.uri != uri:
                raise RegistryError(f"version {version!r} of registered model {name!r} at {settings.address} "
                                    f"points at {artifact.uri}, not {uri}: delete that version or register under "
                                    "another registered_model_name")
        else:
            client.register_model(name, uri, version=version, model_format_name=MODEL_FORMAT_NAME,
                                  model_format_version=MODEL_FORMAT_VERSION, author=settings.author,
                                  version_description=description or None, metadata=properties)
            existing = client.get_model_version(name, version)
            artifact = client.get_model_artifact(name, version)
        model = client.get_registered_model(name)
    except RegistryError:
        raise
    except Exception as exc:  # noqa: BLE001 - see connect
        raise RegistryError(f"Model Registry at {settings.address} refused the registration of "
                            f"{name}:{version}: {_reason(exc, settings)}") from None
    return {"address": settings.address, "registered_model": name, "registered_model_id": model.id,
            "version": version, "model_version_id": existing.id, "model_artifact_id": artifact.id, "uri": uri,
            "reused": reused}


def register_promoted_model(settings: RegistrySettings, *, version: str, uri: str, final: dict[str, Any],
                            stages: list[dict[str, Any]], base_model: dict[str, Any], dataset: dict[str, Any],
                            eval_results: dict[str, Any], promotion_reason: str,
                            client: Any = None) -> dict[str, Any]:
    """What the pipeline's register_model step runs: the lineage, then the registration. Returns the
    record the step writes (ids, URI and the properties sent)."""
    if not promotion_reason.startswith("promoted"):
        # the graph only runs this step for a promoted model; a direct call gets the same rule
        raise RegistryError(f"only a promoted model is registered; the evaluation said: {promotion_reason}")
    properties = lineage_properties(final=final, stages=stages, base_model=base_model, dataset=dataset,
                                    eval_results=eval_results, promotion_reason=promotion_reason, run_id=version)
    description = (f"{final.get('stage', 'final')} model trained from {properties.get('base_model')} on "
                   f"{properties.get('dataset')}; {promotion_reason}")
    record = register_model_version(settings, version=version, uri=uri, properties=properties,
                                    description=_text(description), client=client)
    return {**record, "properties": properties}
