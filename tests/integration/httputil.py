"""What the status page's integration tests share: an HTTP client with a
bounded time (urllib, and raw sockets for requests urllib will not send),
and a parser of the Prometheus text format 0.0.4 that refuses any line it
does not understand."""
import base64
import json
import re
import socket
import urllib.error
import urllib.request

import yw
from yw import check


def get(port, path, auth=None, timeout=10):
    """(status, headers, body bytes) of GET http://127.0.0.1:PORT/PATH."""
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path))
    if auth:
        req.add_header("Authorization", "Basic " + base64.b64encode(auth.encode()).decode())
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def get_json(port, path, auth=None):
    status, headers, body = get(port, path, auth)
    if status != 200:
        raise yw.Failure("GET %s: %d %r" % (path, status, body[:200]))
    check(headers.get("Content-Type") == "application/json", "%s is JSON" % path)
    return json.loads(body)


def raw(port, data, timeout=5):
    """Send DATA, read until the server closes (or TIMEOUT); the status
    code (0 when no answer) and the answer."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    out = b""
    try:
        s.sendall(data)
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            out += chunk
    except (socket.timeout, ConnectionResetError):
        pass
    finally:
        s.close()
    m = re.match(rb"HTTP/1\.[01] (\d{3}) ", out)
    return (int(m.group(1)) if m else 0), out


NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LABEL = r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"'
SAMPLE = re.compile(r"^(%s)(\{%s(?:,%s)*\})? (\S+)$" % (NAME, LABEL, LABEL))
LABELS = re.compile(LABEL)
FLOAT = re.compile(r"^[-+]?(\d+\.?\d*([eE][-+]?\d+)?|\.\d+([eE][-+]?\d+)?|NaN|Inf)$")


def unescape(v):
    return re.sub(r"\\(.)", lambda m: {"n": "\n", "\\": "\\", '"': '"'}[m.group(1)], v)


def parse_metrics(text):
    """{family: {"type", "help", "samples": [(labels dict, value)]}}; a
    Failure on any line that is not HELP, TYPE or a sample of a family
    declared before it, on a duplicate series, or a value that is not a
    float."""
    fams, seen = {}, set()
    check(text.endswith("\n"), "the exposition ends with a newline")
    for n, line in enumerate(text.split("\n")[:-1], 1):
        if line.startswith("# HELP ") or line.startswith("# TYPE "):
            parts = line.split(" ", 3)
            check(len(parts) == 4 and re.match("^%s$" % NAME, parts[2]), "line %d: %r" % (n, line))
            f = fams.setdefault(parts[2], {"samples": []})
            key = "help" if parts[1] == "HELP" else "type"
            check(key not in f, "line %d: a second %s for %s" % (n, parts[1], parts[2]))
            check(not f["samples"], "line %d: %s after the samples" % (n, parts[1]))
            if key == "type":
                check(parts[3] in ("counter", "gauge"), "line %d: type %r" % (n, parts[3]))
            f[key] = parts[3]
            continue
        m = SAMPLE.match(line)
        check(m, "line %d is not a sample: %r" % (n, line))
        name, labels, value = m.group(1), m.group(2) or "", m.group(m.lastindex)
        check(name in fams and "type" in fams[name] and "help" in fams[name],
              "line %d: %s has no HELP and TYPE before it" % (n, name))
        check(FLOAT.match(value), "line %d: value %r" % (n, value))
        lab = {k: unescape(v) for k, v in LABELS.findall(labels)}
        series = (name, tuple(sorted(lab.items())))
        check(series not in seen, "line %d: a second %r" % (n, series))
        seen.add(series)
        if fams[name]["type"] == "counter":
            check(name.endswith("_total"), "counter %s ends in _total" % name)
        fams[name]["samples"].append((lab, float(value)))
    return fams


def sample(fams, name, **labels):
    """The value of NAME's series with (at least) LABELS; Failure when none."""
    for lab, v in fams.get(name, {}).get("samples", []):
        if all(lab.get(k) == w for k, w in labels.items()):
            return v
    raise yw.Failure("no sample %s%r" % (name, labels))
