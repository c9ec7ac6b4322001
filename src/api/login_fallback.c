/* client-server-api "Login Fallback": GET /_matrix/static/client/login/ is an HTML and
 * JavaScript page that performs the whole login and then calls window.onLogin. Matrix v1.1
 * (MSC2604): "Non-credential parameters valid for the /login endpoint can be provided as
 * query string parameters here", so the page passes device_id and
 * initial_device_display_name on to POST /login. The page offers m.login.password, the only
 * interactive login type this server has. */
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "core/util.h"

static const char page[] =
    "<!DOCTYPE html>\n"
    "<html><head><meta charset=\"utf-8\"><title>Log in</title>\n"
    "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"></head>\n"
    "<body>\n"
    "<form id=\"f\"><p><label>User <input id=\"user\" name=\"user\" autocomplete=\"username\">"
    "</label></p>\n"
    "<p><label>Password <input id=\"password\" name=\"password\" type=\"password\" "
    "autocomplete=\"current-password\"></label></p>\n"
    "<p><button type=\"submit\">Log in</button></p><p id=\"msg\"></p></form>\n"
    "<script>\n"
    "'use strict';\n"
    "document.getElementById('f').addEventListener('submit', function (e) {\n"
    "  e.preventDefault();\n"
    "  var q = new URLSearchParams(window.location.search);\n"
    "  var body = {type: 'm.login.password', identifier: {type: 'm.id.user',\n"
    "    user: document.getElementById('user').value},\n"
    "    password: document.getElementById('password').value};\n"
    "  ['device_id', 'initial_device_display_name'].forEach(function (k) {\n"
    "    if (q.has(k)) body[k] = q.get(k);\n"
    "  });\n"
    "  fetch('/_matrix/client/v3/login', {method: 'POST', headers: {'Content-Type':\n"
    "    'application/json'}, body: JSON.stringify(body)}).then(function (res) {\n"
    "    return res.json().then(function (j) { return {ok: res.ok, j: j}; });\n"
    "  }).then(function (r) {\n"
    "    if (!r.ok) { document.getElementById('msg').textContent = r.j.error || 'Login failed';\n"
    "      return; }\n"
    "    document.getElementById('msg').textContent = 'Logged in';\n"
    "    if (window.onLogin) window.onLogin(r.j);\n"
    "  });\n"
    "});\n"
    "</script></body></html>\n";

/* GET /_matrix/static/client/login/ */
void
login_fallback_get(struct req *r)
{
    char *body = xstrdup(page);
    reply_raw(r, 200, "text/html; charset=utf-8", body, strlen(body));
}
