"""The route table (src/api/routes.c) read from the source, so tests that must cover every
endpoint (test_hostile.py, test_access_control.py) pick up new routes automatically."""

import os
import re
from urllib.parse import quote as _q

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ROUTES_C = os.path.join(REPO, "src", "api", "routes.c")

_ROUTE_RE = re.compile(
    r'\{\s*HTTP_(\w+)\s*,\s*PFX_(\w+)\s*,\s*"([^"]+)"\s*,\s*(\w+)\s*,\s*AUTH_(\w+)\s*,\s*([^}]*)\}')
_PARAM_RE = re.compile(r"\{(\w+)\}")


class Route:
    def __init__(self, method, prefix, pattern, handler, auth, flags):
        self.method = method
        self.prefix = prefix  # CLIENT, MEDIA or EXACT
        self.pattern = pattern
        self.handler = handler
        self.auth = auth  # NONE, OPTIONAL or REQUIRED
        self.flags = set(re.findall(r"\w+", flags)) - {"0"}
        self.params = _PARAM_RE.findall(pattern)

    @property
    def json(self):
        return bool(self.flags & {"JSON", "JSON_OPT", "ROUTE_JSON", "ROUTE_JSON_OPTIONAL"})

    @property
    def json_optional(self):
        return bool(self.flags & {"JSON_OPT", "ROUTE_JSON_OPTIONAL"})

    @property
    def stream(self):
        return "ROUTE_STREAM" in self.flags

    @property
    def id(self):
        return "%s %s" % (self.method, self.pattern)

    def path(self, prefix="r0", **values):
        """The request path with every {param} replaced by values[param] (%-encoded)."""
        def sub(m):
            return _q(str(values[m.group(1)]), safe="")
        p = _PARAM_RE.sub(sub, self.pattern)
        if self.prefix == "CLIENT":
            return "/_matrix/client/%s%s" % (prefix, p)
        if self.prefix == "MEDIA":
            return "/_matrix/media/%s%s" % (prefix, p)
        return p

    def __repr__(self):
        return "<Route %s>" % self.id


def load_routes():
    with open(ROUTES_C) as f:
        text = f.read()
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    routes = [Route(*m.groups()) for m in _ROUTE_RE.finditer(text)]
    assert len(routes) > 50, "could not read the route table from %s" % ROUTES_C
    return routes


ROUTES = load_routes()
