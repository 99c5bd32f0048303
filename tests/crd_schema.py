"""Check a custom object against a CRD's structural schema the way the API server does.

Two checks: ``pruned_fields`` lists every field the server would silently drop (not declared,
no ``additionalProperties``, no ``x-kubernetes-preserve-unknown-fields``), which is what
happens to a field of the wrong Trainer version; ``schema_errors`` runs the schema's types,
enums, required fields and bounds (JSON Schema keywords; CEL rules are not evaluated).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

CRD_DIR = Path(__file__).resolve().parent / "data" / "crds"


def load_schema(name: str) -> dict[str, Any]:
    return json.loads((CRD_DIR / f"{name}.json").read_text())["openAPIV3Schema"]


def pruned_fields(obj: Any, schema: dict[str, Any], path: str = "") -> list[str]:
    if path == ".metadata":
        return []  # ObjectMeta is validated by the server itself, not by the CRD schema
    if isinstance(obj, dict):
        if schema.get("x-kubernetes-preserve-unknown-fields"):
            return []
        properties = schema.get("properties")
        extra = schema.get("additionalProperties")
        found = []
        for key, value in obj.items():
            if properties is not None and key in properties:
                found += pruned_fields(value, properties[key], f"{path}.{key}")
            elif isinstance(extra, dict):
                found += pruned_fields(value, extra, f"{path}.{key}")
            elif properties is not None or extra is False:
                found.append(f"{path}.{key}")
        return found
    if isinstance(obj, list) and isinstance(schema.get("items"), dict):
        return [p for i, item in enumerate(obj) for p in pruned_fields(item, schema["items"], f"{path}[{i}]")]
    return []


def schema_errors(obj: Any, schema: dict[str, Any]) -> list[str]:
    import jsonschema
    validator = jsonschema.Draft7Validator(schema)
    return [f"{'.'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(obj)]
