"""A dependency-free Python client of acgd's local API.

The protocol (docs/runtime.md, "The local API"): newline-delimited JSON over a
Unix socket, one response line per request, in order. Requests are checked
before they are sent and responses before they are returned: a field of the
wrong type raises ProtocolError, never a silently wrong value.

    from agentcgroup_client import AgentCgroupClient
    with AgentCgroupClient.connect() as acg:          # $ACG_SOCKET or the default
        call = acg.start_call(agent="alice", argv=["pytest", "-x"], tool="Bash")
        # ... start the command in call["cgroup"] (write its pid to cgroup.procs) ...
        report = acg.end_call(call["call"])

Versioned: CLIENT_VERSION follows semver; PROTOCOL_VERSION changes only when a
request or response shape changes incompatibly. Python 3.8+, standard library only.
"""

import json
import os
import socket

CLIENT_VERSION = "1.0.0"
PROTOCOL_VERSION = 1
DEFAULT_SOCKET = "/run/agentcgroup/acgd.sock"


class AcgdError(Exception):
    """acgd answered with an error; .code is bad_request, forbidden, not_found, refused, policy_error..."""

    def __init__(self, code, message):
        super().__init__(message)
        self.code = code


class ProtocolError(Exception):
    """The connection failed, or acgd's answer does not have the documented shape."""


_KINDS = {
    "string": lambda v: isinstance(v, str),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "object": lambda v: isinstance(v, (dict, list)),
    "strings": lambda v: isinstance(v, list) and all(isinstance(s, str) for s in v),
    "string|null": lambda v: v is None or isinstance(v, str),
    "number|null": lambda v: v is None or (isinstance(v, (int, float)) and not isinstance(v, bool)),
}

CALL_VIEW = {"call": "string", "agent": "string", "label": "string?", "cgroup": "string", "rule": "string",
             "class": "string", "limits": "object", "intentLog": "strings", "events": "strings"}
CALL_REPORT = {"id": "string", "rule": "string", "class": "string", "durationMs": "number",
               "memoryPeakBytes": "number|null", "cpuUsageUsec": "number|null", "oomKilled": "boolean",
               "advice": "string|null"}
REGISTERED = {"agent": "string", "cgroup": "string", "pid": "number"}
STATUS = {"policy": "object", "cgroupRoot": "string", "agents": "object", "calls": "object"}


def check_shape(what, value, shape):
    """Returns value if it has every field of shape with the right type; raises ProtocolError naming the field."""
    if not isinstance(value, dict):
        raise ProtocolError("%s: expected an object, got %r" % (what, value))
    for key, want in shape.items():
        optional = want.endswith("?")
        kind = want.rstrip("?")
        if key not in value:
            if optional:
                continue
            raise ProtocolError('%s: missing field "%s"' % (what, key))
        if not _KINDS[kind](value[key]):
            raise ProtocolError('%s: field "%s" should be %s, got %r' % (what, key, kind, value[key]))
    return value


class AgentCgroupClient:
    def __init__(self, sock):
        self._sock = sock
        self._file = sock.makefile("rb")
        self._next_id = 1

    @classmethod
    def connect(cls, path=None, timeout=None):
        """Connects to acgd at path (default $ACG_SOCKET, else /run/agentcgroup/acgd.sock)."""
        path = path or os.environ.get("ACG_SOCKET") or DEFAULT_SOCKET
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        try:
            sock.connect(path)
        except OSError as e:
            sock.close()
            raise ProtocolError("acgd is not reachable at %s (%s)" % (path, e.strerror or e)) from None
        return cls(sock)

    def request(self, op, **fields):
        """Sends one request; returns its result, or raises AcgdError / ProtocolError."""
        req_id = self._next_id
        self._next_id += 1
        fields = {k: v for k, v in fields.items() if v is not None}
        try:
            self._sock.sendall((json.dumps(dict(fields, op=op, id=req_id)) + "\n").encode())
            line = self._file.readline()
        except OSError as e:
            raise ProtocolError("connection to acgd failed: %s" % e) from None
        if not line:
            raise ProtocolError("acgd closed the connection")
        try:
            resp = json.loads(line)
        except ValueError:
            raise ProtocolError("acgd sent a line that is not JSON: %r" % line[:200]) from None
        check_shape("response", resp, {"ok": "boolean"})
        if resp.get("id") not in (req_id, None):
            raise ProtocolError("response id %r does not match request id %r" % (resp.get("id"), req_id))
        if not resp["ok"]:
            err = check_shape("error", resp.get("error"), {"code": "string", "message": "string"})
            raise AcgdError(err["code"], err["message"])
        return resp.get("result")

    def start_call(self, argv, agent=None, tenant=None, tool=None, hints=None, path=None, pid=None, label=None):
        if not isinstance(argv, (list, tuple)) or not argv or not all(isinstance(a, str) for a in argv):
            raise TypeError("start_call: argv must be a non-empty list of strings")
        if hints is not None and not all(isinstance(h, str) for h in hints):
            raise TypeError("start_call: hints must be a list of strings")
        if pid is not None and (not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0):
            raise TypeError("start_call: pid must be a positive integer")
        result = self.request("start_call", argv=list(argv), agent=agent, tenant=tenant, tool=tool,
                              hints=list(hints) if hints is not None else None, path=path, pid=pid, label=label)
        return check_shape("start_call result", result, CALL_VIEW)

    def end_call(self, call):
        return check_shape("end_call result", self.request("end_call", call=call), CALL_REPORT)

    def declare_intent(self, call, hints):
        return check_shape("declare_intent result", self.request("declare_intent", call=call, hints=list(hints)), CALL_VIEW)

    def register_agent(self, agent, tenant=None, pid=None):
        return check_shape("register_agent result", self.request("register_agent", agent=agent, tenant=tenant, pid=pid), REGISTERED)

    def status(self):
        return check_shape("status result", self.request("status"), STATUS)

    def usage(self, agent=None, tenant=None):
        return check_shape("usage result", self.request("usage", agent=agent, tenant=tenant), {"agents": "object"})

    def close(self):
        self._file.close()
        self._sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
