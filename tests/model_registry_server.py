"""A local stand-in for Kubeflow Model Registry's REST server, held to its real OpenAPI spec.

The real server (Go, with a database) is not on any package registry this project reaches, so it
cannot run here. This one keeps registered models, versions and model artifacts in memory and
implements the operations the Python client (``model-registry``) uses to register a model. It
refuses what the vendored spec (tests/data/model_registry/model-registry.yaml) does not allow:

- a path or method the spec does not have (404/405), or one this stand-in does not implement (501);
- a query parameter the operation does not declare (the generated client would never send one);
- a body that fails the operation's schema, or that carries a field the schema does not declare
  (the Go server decodes bodies with ``DisallowUnknownFields``, so a misspelt field is a 400 there too).

Every response it sends is checked against the operation's response schema as well, so the client
parses what a real server would send. Each refusal is also kept in ``violations``: a test asserts
there were none. ``fail_next`` makes the next call of an operation fail (a flaky network, a
restarted server) to test retries.

    with ModelRegistryServer(token="t") as server:
        ModelRegistry(server.url, author="me", is_secure=False, user_token="t")
"""
from __future__ import annotations

import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import yaml
from jsonschema import Draft202012Validator

SPEC_FILE = Path(__file__).parent / "data" / "model_registry" / "model-registry.yaml"
SPEC_PREFIX = "/api/model_registry/v1alpha3"
# model-registry 0.3.12+ calls the same operations under /v1 (tests/data/model_registry/README.md)
CLIENT_PREFIXES = ("/api/model_registry/v1/", SPEC_PREFIX + "/")


class Spec:
    """The operations, schemas and parameters of the vendored OpenAPI document."""

    def __init__(self, path: Path = SPEC_FILE):
        self.document = yaml.safe_load(path.read_text())
        self.routes = []
        for template, item in self.document["paths"].items():
            pattern = re.sub(r"\{([^}]+)\}", r"(?P<\1>[^/]+)", template.removeprefix(SPEC_PREFIX))
            self.routes.append((re.compile(f"^{pattern}$"), template, item))

    def deref(self, node: dict) -> dict:
        """Follow ``$ref`` chains ("#/components/...") to the object they name."""
        while isinstance(node, dict) and "$ref" in node:
            target: Any = self.document
            for part in node["$ref"].removeprefix("#/").split("/"):
                target = target[part]
            node = target
        return node

    def route(self, method: str, path: str, prefixes=CLIENT_PREFIXES) -> tuple[str, dict, dict[str, str]]:
        """(template, operation, path parameters); raises LookupError(status, message)."""
        for prefix in prefixes:
            if path.startswith(prefix):
                relative = "/" + path.removeprefix(prefix)
                break
        else:
            raise LookupError(404, f"no such API prefix: {path}")
        for pattern, template, item in self.routes:
            match = pattern.match(relative)
            if match:
                if method.lower() not in item:
                    raise LookupError(405, f"{method} is not an operation of {template}")
                return template, item, match.groupdict()
        raise LookupError(404, f"the spec has no path {relative}")

    def query_names(self, item: dict, operation: dict) -> set[str]:
        parameters = [self.deref(p) for p in item.get("parameters", []) + operation.get("parameters", [])]
        return {p["name"] for p in parameters if p.get("in") == "query"}

    def schema_errors(self, schema: dict, body: Any) -> list[str]:
        """Errors of ``body`` against ``schema`` (a discriminated oneOf resolved by its mapping, as the
        generated servers do), plus every top-level field the schema does not declare."""
        schema = self.deref(schema)
        if "discriminator" in schema and isinstance(body, dict):
            key = schema["discriminator"]["propertyName"]
            chosen = schema["discriminator"].get("mapping", {}).get(body.get(key))
            if chosen is None:
                return [f"{key}={body.get(key)!r} is none of {sorted(schema['discriminator']['mapping'])}"]
            schema = self.deref({"$ref": chosen})
        validator = Draft202012Validator({**schema, "components": self.document["components"]})
        errors = [f"{'/'.join(map(str, e.absolute_path)) or '<body>'}: {e.message}" for e in validator.iter_errors(body)]
        if isinstance(body, dict):
            known = self.properties(schema)
            errors += [f"unknown field '{name}' (not in the schema; the server refuses it)"
                       for name in body if name not in known]
        return errors

    def properties(self, schema: dict) -> set[str]:
        schema = self.deref(schema)
        names = set(schema.get("properties", {}))
        for part in schema.get("allOf", []):
            names |= self.properties(part)
        return names

    def body_schema(self, operation: dict) -> dict | None:
        content = (self.deref(operation.get("requestBody", {})).get("content") or {}).get("application/json")
        return content["schema"] if content else None

    def response_schema(self, operation: dict, status: int) -> dict | None:
        response = operation["responses"].get(str(status))
        if response is None:
            raise AssertionError(f"the spec declares no {status} response for this operation")
        content = (self.deref(response).get("content") or {}).get("application/json")
        return content["schema"] if content else None


class ModelRegistryServer:
    """A threaded HTTP server on 127.0.0.1 with the registry's state in memory."""

    def __init__(self, token: str | None = None, spec: Spec | None = None, prefixes=CLIENT_PREFIXES):
        self.spec = spec or Spec()
        self.prefixes = prefixes  # (SPEC_PREFIX + "/",) plays a server that predates the v1 API
        self.token = token
        self.requests: list[dict[str, Any]] = []
        self.violations: list[str] = []
        self.fail_next: dict[tuple[str, str], int] = {}
        self.models: dict[str, dict] = {}
        self.versions: dict[str, dict] = {}
        self.artifacts: dict[str, dict] = {}
        self.version_artifacts: dict[str, list[str]] = {}
        self._ids = 0
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def __enter__(self) -> ModelRegistryServer:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def calls(self, method: str | None = None, template_end: str = "") -> list[dict[str, Any]]:
        return [r for r in self.requests if (method is None or r["method"] == method)
                and r["template"].endswith(template_end)]

    # ------------------------------------------------------------------ the operations

    def _new_id(self) -> str:
        self._ids += 1
        return str(self._ids)

    def _stamp(self, body: dict) -> dict:
        now = str(int(time.time() * 1000))
        return {**body, "id": self._new_id(), "createTimeSinceEpoch": now, "lastUpdateTimeSinceEpoch": now}

    @staticmethod
    def _find(items: dict[str, dict], query: dict[str, str], parent_key: str | None = None) -> dict | None:
        for item in items.values():
            if "name" in query and item.get("name") != query["name"]:
                continue
            if "externalId" in query and item.get("externalId") != query["externalId"]:
                continue
            if parent_key and "parentResourceId" in query and item.get(parent_key) != query["parentResourceId"]:
                continue
            return item
        return None

    def _operate(self, method: str, template: str, params: dict[str, str], query: dict[str, str],
                 body: Any) -> tuple[int, Any]:
        path = template.removeprefix(SPEC_PREFIX)
        not_found = (404, {"code": "404", "message": "not found"})
        if (method, path) == ("GET", "/registered_models"):
            items = list(self.models.values())[: int(query.get("pageSize", 100))]
            return 200, {"items": items, "nextPageToken": "", "pageSize": len(items), "size": len(items)}
        if (method, path) == ("GET", "/registered_model"):
            found = self._find(self.models, query)
            return (200, found) if found else not_found
        if (method, path) == ("POST", "/registered_models"):
            if self._find(self.models, {"name": body["name"]}):
                return 409, {"code": "409", "message": f"registered model {body['name']} exists"}
            model = self._stamp({"state": "LIVE", "customProperties": {}, **body})
            self.models[model["id"]] = model
            return 201, model
        if (method, path) == ("GET", "/model_version"):
            query = {**query, "parentResourceId": query.get("parentResourceId", "")} if "name" in query else query
            found = self._find(self.versions, query, "registeredModelId")
            return (200, found) if found else not_found
        if (method, path) in (("POST", "/registered_models/{registeredmodelId}/versions"), ("POST", "/model_versions")):
            parent = params.get("registeredmodelId") or body["registeredModelId"]
            if parent not in self.models:
                return not_found
            if self._find(self.versions, {"name": body["name"], "parentResourceId": parent}, "registeredModelId"):
                return 409, {"code": "409", "message": f"version {body['name']} exists"}
            version = self._stamp({"state": "LIVE", "customProperties": {}, **body, "registeredModelId": parent})
            self.versions[version["id"]] = version
            return 201, version
        if (method, path) == ("GET", "/model_artifact"):
            for artifact_id in self.version_artifacts.get(query.get("parentResourceId", ""), []):
                artifact = self.artifacts[artifact_id]
                if artifact.get("name") == query.get("name"):
                    return 200, artifact
            return not_found
        if path == "/model_versions/{modelversionId}/artifacts":
            parent = params["modelversionId"]
            if parent not in self.versions:
                return not_found
            if method == "GET":
                items = [self.artifacts[i] for i in self.version_artifacts.get(parent, [])]
                return 200, {"items": items, "nextPageToken": "", "pageSize": len(items), "size": len(items)}
            artifact = self._stamp({"state": "UNKNOWN", "customProperties": {}, **body})
            self.artifacts[artifact["id"]] = artifact
            self.version_artifacts.setdefault(parent, []).append(artifact["id"])
            return 201, artifact
        return 501, {"code": "501", "message": f"{method} {template} is in the spec but not in this stand-in"}

    # ------------------------------------------------------------------ HTTP

    def _handler(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet: the tests read server.requests
                pass

            def _reply(self, status: int, payload: Any) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _serve(self) -> None:
                parts = urlsplit(self.path)
                query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                record = {"method": self.command, "path": parts.path, "query": query, "template": "",
                          "authorization": self.headers.get("Authorization"), "body": None}
                with server._lock:
                    server.requests.append(record)
                    try:
                        template, item, params = server.spec.route(self.command, parts.path, server.prefixes)
                    except LookupError as exc:
                        status, message = exc.args
                        server.violations.append(f"{self.command} {parts.path}: {message}")
                        return self._reply(status, {"code": str(status), "message": message})
                    record["template"] = template
                    operation = item[self.command.lower()]
                    if server.token and self.headers.get("Authorization") != f"Bearer {server.token}":
                        return self._reply(401, {"code": "401", "message": "Unauthorized"})
                    unknown = set(query) - server.spec.query_names(item, operation)
                    if unknown:
                        message = f"query parameters not in the spec: {sorted(unknown)}"
                        server.violations.append(f"{self.command} {template}: {message}")
                        return self._reply(400, {"code": "400", "message": message})
                    body = None
                    if server.spec.body_schema(operation) is not None:
                        try:
                            body = json.loads(raw or b"null")
                        except json.JSONDecodeError as exc:
                            server.violations.append(f"{self.command} {template}: body is not JSON ({exc})")
                            return self._reply(400, {"code": "400", "message": "body is not JSON"})
                        record["body"] = body
                        errors = server.spec.schema_errors(server.spec.body_schema(operation), body)
                        if errors:
                            server.violations.append(f"{self.command} {template}: " + "; ".join(errors))
                            return self._reply(400, {"code": "400", "message": "; ".join(errors)})
                    failure = server.fail_next.pop((self.command, template.removeprefix(SPEC_PREFIX)), None)
                    if failure:
                        return self._reply(failure, {"code": str(failure), "message": "injected failure"})
                    status, payload = server._operate(self.command, template, params, query, body)
                    if status == 501:
                        server.violations.append(payload["message"])
                    else:
                        schema = server.spec.response_schema(operation, status)
                        errors = server.spec.schema_errors(schema, payload) if schema else []
                        if errors:  # the stand-in itself is wrong: fail loudly rather than mislead the client
                            server.violations.append(f"response of {self.command} {template}: " + "; ".join(errors))
                    return self._reply(status, payload)

            do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _serve

        return Handler
