"""Response validation against the spec's OpenAPI 2.0 files
(../shared/spec/r0.6.1/api/client-server/*.yaml, override with HEARTH_SPEC_DIR).

- relative $refs to other files (definitions/..., ../identity/...) are resolved by inlining; a
  $ref with sibling keys (e.g. definitions/errors/rate_limited.yaml) becomes allOf[ref, rest];
- %CLIENT_MAJOR_VERSION% in basePath is r0; requests on /_matrix/client/v3/ (and
  /_matrix/media/v3/) are validated against the r0 operations; file answers (`type: file`,
  and their 206 partial answers) are bytes, not validated;
- the "2xx"-style response keys of openapi_extensions.md are honoured; `oneOf` is plain JSON
  Schema; `fields...` query parameters do not concern responses.

validate_response() is called by the harness on every response:
- a documented (path, method, status) is validated against its schema;
- any error status (>= 400) must be a standard error object: errcode and error both strings
  (client_server_api.rst §API Standards: "the keys error and errcode MUST always be present"),
  except a User-Interactive Authentication 401 (auth_response.yaml), where they are optional;
- a 2xx on a known operation whose status is not documented fails.
"""

import functools
import glob
import os
import re

import jsonschema
import yaml

_HERE = os.path.dirname(os.path.abspath(__file__))
SPEC_ROOT = os.environ.get(
    "HEARTH_SPEC_DIR",
    os.path.normpath(os.path.join(_HERE, "..", "..", "..", "shared", "spec", "r0.6.1")),
)
CS_DIR = os.path.join(SPEC_ROOT, "api", "client-server")

try:
    _Loader = yaml.CSafeLoader
except AttributeError:  # pragma: no cover
    _Loader = yaml.SafeLoader

METHODS = ("get", "put", "post", "delete", "options", "head", "patch")


class SchemaError(AssertionError):
    pass


@functools.lru_cache(maxsize=None)
def _load(path):
    with open(path, "rb") as f:
        doc = yaml.load(f, Loader=_Loader)
    return _erratum(path, doc)


def _erratum(path, doc):
    """Known mistakes of the spec's schemas, undone here (each says what and why)."""
    # application-service/definitions/protocol.yaml: field_types has `required: ['fieldname']`,
    # which demands a field literally named "fieldname" (meant: each entry is keyed by its
    # field name). No answer of a real service has that field; v1.1 still has the mistake.
    if path.replace(os.sep, "/").endswith("application-service/definitions/protocol.yaml"):
        ft = (doc.get("properties") or {}).get("field_types") or {}
        if ft.get("required") == ["fieldname"]:
            del ft["required"]
    return doc


def _resolve(node, base_dir, depth=0):
    """Returns a copy of node with every $ref inlined (relative to base_dir)."""
    if depth > 60:
        raise SchemaError("$ref nesting too deep (cycle?) under %s" % base_dir)
    if isinstance(node, dict):
        if "$ref" in node and isinstance(node["$ref"], str):
            ref_path = os.path.normpath(os.path.join(base_dir, node["$ref"]))
            target = _resolve(_load(ref_path), os.path.dirname(ref_path), depth + 1)
            rest = {k: v for k, v in node.items() if k != "$ref" and k not in ("example", "examples")}
            if not rest:
                return target
            return {"allOf": [target, _resolve(rest, base_dir, depth + 1)]}
        out = {}
        for k, v in node.items():
            if k in ("example", "examples", "x-example"):
                continue
            out[k] = _resolve(v, base_dir, depth + 1)
        return out
    if isinstance(node, list):
        return [_resolve(v, base_dir, depth + 1) for v in node]
    return node


def error_schema():
    return _resolve({"$ref": "definitions/errors/error.yaml"}, CS_DIR)


def auth_response_schema():
    return _resolve({"$ref": "definitions/auth_response.yaml"}, CS_DIR)


# Not in the Matrix spec: Synapse's shared-secret registration admin API, as Synapse serves it.
_SYNAPSE_OPS = {
    ("/_synapse/admin/v1/register", "get"): {
        "200": {"type": "object", "required": ["nonce"], "properties": {"nonce": {"type": "string"}}},
    },
    ("/_synapse/admin/v1/register", "post"): {
        "200": {
            "type": "object",
            "required": ["user_id", "access_token", "home_server", "device_id"],
            "properties": {
                "user_id": {"type": "string"},
                "access_token": {"type": "string"},
                "home_server": {"type": "string"},
                "device_id": {"type": "string"},
            },
        },
    },
}


class _Op:
    def __init__(self, template, method, responses, source):
        self.template = template
        self.method = method
        self.responses = responses  # str(status) -> raw response object (unresolved)
        self.source = source
        self.n_params = template.count("{")
        pattern = ""
        for part in re.split(r"(\{[^}]+\})", template):
            if part.startswith("{") and part.endswith("}"):
                pattern += "[^/]+"
            else:
                pattern += re.escape(part)
        self.regex = re.compile("^" + pattern + "$")
        self._cache = {}

    def schema_for(self, status):
        """Resolved schema for an HTTP status, None when documented without a schema,
        KeyError when the status is not documented."""
        key = str(status)
        if key not in self.responses:
            key = key[0] + "xx"
            if key not in self.responses:
                raise KeyError(status)
        if key not in self._cache:
            resp = self.responses[key] or {}
            sch = resp.get("schema")
            if sch is not None and self.source is not None:
                sch = _resolve(sch, os.path.dirname(self.source))
            self._cache[key] = sch
        return self._cache[key]

    def documented(self, status):
        key = str(status)
        return key in self.responses or (key[0] + "xx") in self.responses


@functools.lru_cache(maxsize=None)
def _operations():
    ops = []
    for path in sorted(glob.glob(os.path.join(CS_DIR, "*.yaml"))):
        doc = _load(path)
        if not isinstance(doc, dict) or "paths" not in doc:
            continue
        base = str(doc.get("basePath", "")).replace("%CLIENT_MAJOR_VERSION%", "r0").rstrip("/")
        for p, item in (doc.get("paths") or {}).items():
            for method, op in (item or {}).items():
                if method not in METHODS:
                    continue
                responses = {str(k): v for k, v in (op.get("responses") or {}).items()}
                ops.append(_Op(base + p, method, responses, path))
    for (p, method), responses in _SYNAPSE_OPS.items():
        ops.append(_Op(p, method, {k: {"schema": v} for k, v in responses.items()}, None))
    ops.sort(key=lambda o: o.n_params)
    if not ops:
        raise SchemaError("no OpenAPI operations found under %s" % CS_DIR)
    return ops


def spec_path(path):
    """Maps a request path to the spec's path space (v3 -> r0, query stripped)."""
    path = path.split("?", 1)[0]
    if path.startswith("/_matrix/client/v3/"):
        path = "/_matrix/client/r0/" + path[len("/_matrix/client/v3/"):]
    if path.startswith("/_matrix/media/v3/"):
        path = "/_matrix/media/r0/" + path[len("/_matrix/media/v3/"):]
    return path


def find_operation(method, path):
    sp = spec_path(path)
    m = method.lower()
    for op in _operations():
        if op.method == m and op.regex.match(sp):
            return op
    return None


def _validate(instance, schema, what):
    try:
        jsonschema.Draft4Validator(schema).validate(instance)
    except jsonschema.ValidationError as e:
        raise SchemaError("%s: response does not match the spec schema: %s\nbody: %r"
                          % (what, e.message, instance)) from None


def validate_response(method, path, status, body, text=""):
    what = "%s %s -> %d" % (method, path, status)
    if method.upper() in ("OPTIONS", "HEAD"):
        return
    op = find_operation(method, path)
    if status >= 400:
        if not isinstance(body, dict):
            raise SchemaError("%s: error response is not a JSON object: %r" % (what, text[:300]))
        is_uia = status == 401 and "flows" in body
        if is_uia:
            _validate(body, auth_response_schema(), what)
        else:
            sch = None
            if op is not None and op.documented(status):
                sch = op.schema_for(status)
            # An endpoint's documented 401 is the UIA response; a token error is a plain error.
            if sch is None or (status == 401 and not is_uia):
                sch = error_schema()
            _validate(body, sch, what)
        if "errcode" in body or not is_uia:
            if not isinstance(body.get("errcode"), str) or not re.match(r"^[A-Z0-9_.]+_[A-Z0-9_]+$", body["errcode"]):
                raise SchemaError("%s: errcode missing or malformed: %r" % (what, body))
            if not isinstance(body.get("error"), str):
                raise SchemaError("%s: standard error response without an 'error' string: %r" % (what, body))
        return
    if op is None:
        return
    if not op.documented(status):
        # A partial answer to a Range request on an endpoint that answers a file (downloads).
        if status == 206 and op.documented(200) and (op.schema_for(200) or {}).get("type") == "file":
            return
        raise SchemaError("%s: status %d is not documented for %s %s" % (what, status, op.method.upper(), op.template))
    sch = op.schema_for(status)
    if sch is None or sch.get("type") == "file":  # bytes, not JSON (content-repo.yaml)
        return
    _validate(body, sch, what)


def validate_schema_ref(instance, ref):
    """Validates instance against a spec file given relative to api/client-server."""
    _validate(instance, _resolve({"$ref": ref}, CS_DIR), ref)
