"""
The runner registry: runner key -> callable(input_text, config) -> a Report (agents.reports), or
plain text for a runner whose answer has no structure (the `http` runner relays a service's text).

A runner raises RunnerError (or RunnerTimeout) when it cannot produce an output; the run is then
not charged (inline) or refunded (queued). Runners are called outside any database transaction
(agents.compute), so the `http` runner may take its time without holding a lock.

A runner is either inline (the built-in, CPU-only runners: they answer in milliseconds, inside the
request) or queued (`http`: it waits on the network, so a worker runs it and the request answers 202).
"""

from __future__ import annotations

import http.client
import ipaddress
import json
import logging
import re
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from http.client import HTTPException
from urllib.parse import urlsplit

from django.conf import settings

from .builtins import email_headers, logs, passwords, phishing
from .builtins.email_headers import analyse_headers
from .builtins.logs import triage_log
from .builtins.passwords import audit_passwords
from .builtins.phishing import check_urls
from .exceptions import RunnerError, RunnerTimeout
from .limits import InputLimits
from .reports import Report

logger = logging.getLogger(__name__)

RunnerFunc = Callable[[str, dict], Report | str]
ConfigValidator = Callable[[dict], list[str]]
# validate(input) -> cleaned input, or InvalidAgentInput saying what the agent expects. Called by
# agents.services before the charge: input a runner cannot use is refused, never charged and refunded.
InputValidator = Callable[[str], str]


@dataclass(frozen=True)
class RunnerSpec:
    key: str
    label: str
    func: RunnerFunc
    # Input that must not be stored with the run (passwords): the run keeps only its length.
    sensitive_input: bool = False
    validate_config: ConfigValidator | None = None
    validate_input: InputValidator | None = None
    limits: InputLimits = InputLimits()
    # Queued runners run on a task worker, never inside the web request (agents.tasks).
    queued: bool = False

    def __call__(self, input_text: str, config: dict) -> Report | str:
        return self.func(input_text, config)


REGISTRY: dict[str, RunnerSpec] = {}


def register(key: str, func: RunnerFunc, *, label: str, sensitive_input: bool = False,
             validate_config: ConfigValidator | None = None,
             validate_input: InputValidator | None = None,
             limits: InputLimits | None = None, queued: bool = False) -> RunnerSpec:
    """Add a runner to the registry (a later registration of the same key replaces it)."""
    if queued and sensitive_input:
        # A worker reads the input from the run row, and sensitive input is never stored there.
        raise ValueError(f"runner {key!r}: a queued runner cannot take sensitive input")
    spec = RunnerSpec(
        key, label, func, sensitive_input, validate_config, validate_input, limits or InputLimits(),
        queued,
    )
    REGISTRY[key] = spec
    return spec


def runner_choices() -> list[tuple[str, str]]:
    return [(spec.key, f"{spec.label} ({spec.key})") for spec in REGISTRY.values()]


def validate_runner_config(key: str, config) -> dict[str, list[str]]:
    """Field errors for an agent's runner and config ({} when valid); used by the model and admin."""
    if key not in REGISTRY:
        return {"runner": [f"Unknown runner '{key}'. Choose one of: {', '.join(sorted(REGISTRY))}."]}
    if not isinstance(config, dict):
        return {"config": ["The config must be a JSON object, e.g. {}."]}
    validator = REGISTRY[key].validate_config
    problems = validator(config) if validator else []
    return {"config": problems} if problems else {}


# --- http: external agent services (an n8n webhook, an LLM backend) ---------------------------------

HTTP_DEFAULT_TIMEOUT = 20.0
HTTP_MAX_TIMEOUT = 120.0
HTTP_MAX_RESPONSE_BYTES = 1_000_000


# Content types whose body becomes a run's output (JSON is handled separately).
HTTP_TEXT_TYPES = ("text/plain", "text/markdown")

# --- SSRF guard -------------------------------------------------------------------------------------
# An agent's URL is typed by staff, but a run is triggered by any user: without a guard the server
# would POST to its own loopback services, the private network or the cloud metadata endpoint
# (169.254.169.254) and hand the answer back as the run's output. Only public addresses are called
# unless AGENT_HTTP_ALLOW_PRIVATE is on. Checked twice: the literal host when the agent is saved,
# and every address a name resolves to right before connecting, connecting to exactly the address
# checked (so a DNS answer that changes between check and use cannot slip through).

PRIVATE_HOST_MESSAGE = (
    '"url" points to a private, loopback, link-local or cloud-metadata address ({host}). '
    "Agents may only call public hosts; set AGENT_HTTP_ALLOW_PRIVATE=True to allow an agent "
    "service on this host or network."
)
# Names that always mean "this machine" or "this private network", whatever DNS says.
_PRIVATE_NAMES = ("localhost", "localhost.localdomain", "metadata", "instance-data")
_PRIVATE_SUFFIXES = (".localhost", ".local", ".internal", ".home.arpa")
_NUMERIC_HOST = re.compile(r"^[0-9a-fx.]+$")  # what inet_aton reads as IPv4 (2130706433, 0x7f.1, 127.1)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


class PrivateAddress(OSError):
    """The runner refused to connect to a non-public address."""


def _allow_private() -> bool:
    return bool(getattr(settings, "AGENT_HTTP_ALLOW_PRIVATE", False))


def is_public_ip(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """True for a globally routable unicast address; IPv4 embedded in IPv6 is judged as IPv4."""
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if embedded is None and ip in _NAT64:
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if embedded is not None:
            return is_public_ip(embedded)
    return ip.is_global and not ip.is_multicast


def _literal_ip(host: str):
    """The address a host written as an IP means to the resolver (every IPv4 spelling), or None."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    if _NUMERIC_HOST.match(host):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    return None


def private_host(host: str) -> bool:
    """True when a URL's host is, by itself, a non-public address or a local-only name."""
    host = host.lower().rstrip(".")
    if host in _PRIVATE_NAMES or host.endswith(_PRIVATE_SUFFIXES):
        return True
    ip = _literal_ip(host)
    return ip is not None and not is_public_ip(ip)


# socket._GLOBAL_DEFAULT_TIMEOUT: the private sentinel http.client passes for "no timeout given";
# typeshed does not declare it, hence the two ignores.
def _guarded_create_connection(
    address, timeout=socket._GLOBAL_DEFAULT_TIMEOUT, source_address=None,  # type: ignore[attr-defined]
    *, allow_private=_allow_private,
):
    """socket.create_connection, but every resolved address must be public (unless allowed), and
    the socket connects to the very address that was checked: no second lookup."""
    host, port = address
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    if not allow_private():
        refused = [
            str(info[4][0]) for info in infos
            if not is_public_ip(ipaddress.ip_address(str(info[4][0]).split("%")[0]))
        ]
        if refused or not infos:
            raise PrivateAddress(f"{host} resolves to non-public address(es) {', '.join(refused)}")
    error: OSError | None = None
    for family, socktype, proto, _name, sockaddr in infos:
        sock = socket.socket(family, socktype, proto)
        try:
            if timeout is not socket._GLOBAL_DEFAULT_TIMEOUT:  # type: ignore[attr-defined]
                sock.settimeout(timeout)
            if source_address:
                sock.bind(source_address)
            sock.connect(sockaddr)
            return sock
        except OSError as exc:
            sock.close()
            error = exc
    raise error or OSError(f"cannot connect to {host}")


class _GuardedHTTPConnection(http.client.HTTPConnection):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # http.client connects through this instance attribute (set in __init__).
        self._create_connection = _guarded_create_connection


class _GuardedHTTPSConnection(http.client.HTTPSConnection):
    # TLS still verifies the certificate against the URL's host name (server_hostname).
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._create_connection = _guarded_create_connection


class _GuardedHTTPHandler(urllib.request.HTTPHandler):
    def http_open(self, req):
        return self.do_open(_GuardedHTTPConnection, req)


class _GuardedHTTPSHandler(urllib.request.HTTPSHandler):
    def https_open(self, req):
        # _context: set by HTTPSHandler.__init__ (private; typeshed does not declare it).
        return self.do_open(_GuardedHTTPSConnection, req, context=self._context)  # type: ignore[attr-defined]


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirect is an error: urllib would replay a POST as a GET elsewhere (an unvetted host)."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


# No proxy handler: a proxy would resolve and connect for us, past the guard.
_opener = urllib.request.build_opener(
    urllib.request.ProxyHandler({}), _NoRedirect, _GuardedHTTPHandler, _GuardedHTTPSHandler
)


def guarded_opener(allow_private) -> urllib.request.OpenerDirector:
    """This guard for another caller (customer webhooks, issue 21): public addresses only unless
    `allow_private()` is true, checked after DNS and connected to exactly; no proxy, no redirects."""
    create = partial(_guarded_create_connection, allow_private=allow_private)

    class Connection(http.client.HTTPConnection):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self._create_connection = create

    class TLSConnection(http.client.HTTPSConnection):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self._create_connection = create

    class Handler(urllib.request.HTTPHandler):
        def http_open(self, req):
            return self.do_open(Connection, req)

    class TLSHandler(urllib.request.HTTPSHandler):
        def https_open(self, req):
            return self.do_open(TLSConnection, req, context=self._context)  # type: ignore[attr-defined]

    return urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirect, Handler, TLSHandler)


def _validate_http_config(config: dict) -> list[str]:
    problems = []
    url = config.get("url")
    parts = urlsplit(url) if isinstance(url, str) else None
    try:
        host = parts.hostname if parts is not None else None
    except ValueError:  # e.g. an unbalanced "[" in the netloc
        host = None
    if parts is None or parts.scheme not in ("http", "https") or not host:
        problems.append('"url" must be an http(s) URL, e.g. "https://n8n.example.com/webhook/scan".')
    elif not _allow_private() and private_host(host):
        problems.append(PRIVATE_HOST_MESSAGE.format(host=host))
    timeout = config.get("timeout", HTTP_DEFAULT_TIMEOUT)
    numeric = isinstance(timeout, int | float) and not isinstance(timeout, bool)
    if not numeric or not 0 < timeout <= HTTP_MAX_TIMEOUT:
        problems.append(f'"timeout" must be a number of seconds between 0 and {int(HTTP_MAX_TIMEOUT)}.')
    headers = config.get("headers", {})
    if not isinstance(headers, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in headers.items()
    ):
        problems.append('"headers" must be an object of strings, e.g. {"Authorization": "Bearer …"}.')
    return problems


def _read_limited(response, deadline: float) -> bytes:
    """Read the body in chunks, refusing oversized replies and slow drips past the deadline."""
    chunks: list[bytes] = []
    size = 0
    while True:
        if time.monotonic() > deadline:
            raise RunnerTimeout("http: reply still arriving at the deadline")
        chunk = response.read(65536)
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > HTTP_MAX_RESPONSE_BYTES:
            raise RunnerError(f"http: reply larger than {HTTP_MAX_RESPONSE_BYTES} bytes")
        chunks.append(chunk)


def _output_from_reply(body: bytes, content_type: str, charset: str) -> str:
    try:
        text = body.decode(charset or "utf-8")
    except (UnicodeDecodeError, LookupError):
        raise RunnerError("http: reply is not valid text") from None
    if content_type == "application/json" or content_type.endswith("+json"):
        try:
            data = json.loads(text)
        except ValueError:
            raise RunnerError("http: reply is not valid JSON") from None
        # n8n's "Respond to Webhook" often wraps items in a list.
        if isinstance(data, list) and len(data) == 1:
            data = data[0]
        if isinstance(data, dict):
            data = next((data[k] for k in ("output", "text", "result") if k in data), None)
        if not isinstance(data, str) or not data.strip():
            raise RunnerError('http: JSON reply has no "output" string')
        return data
    if content_type in HTTP_TEXT_TYPES:
        if not text.strip():
            raise RunnerError("http: empty reply")
        return text
    raise RunnerError(f"http: unexpected content type {content_type!r}")


def run_http(input_text: str, config: dict) -> str:
    """POST {"input": ...} as JSON to config["url"]; the reply's text (or JSON "output") is the output."""
    problems = _validate_http_config(config)
    if problems:
        raise RunnerError(
            "http: bad config: " + " ".join(problems), user_message="This agent is misconfigured."
        )
    timeout = float(config.get("timeout", HTTP_DEFAULT_TIMEOUT))
    payload = {"input": input_text}
    if isinstance(config.get("payload"), dict):
        payload = {**config["payload"], **payload}
    # The scheme was checked above (http/https only, never file:).
    request = urllib.request.Request(  # noqa: S310
        config["url"],
        data=json.dumps(payload).encode(),
        method="POST",
        headers={
            "Content-Type": "application/json",
            "Accept": "application/json, text/plain;q=0.9",
            "User-Agent": "NetCopWallet-agent/1.0",
            **config.get("headers", {}),
        },
    )
    deadline = time.monotonic() + timeout
    try:
        with _opener.open(request, timeout=timeout) as response:
            if not 200 <= response.status < 300:  # urllib raises for the others; never trust that
                raise RunnerError(f"http: status {response.status} from {config['url']}")
            body = _read_limited(response, deadline)
            content_type = response.headers.get_content_type()
            charset = response.headers.get_content_charset() or "utf-8"
    except urllib.error.HTTPError as exc:
        exc.close()
        raise RunnerError(f"http: status {exc.code} from {config['url']}") from None
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, PrivateAddress):
            logger.warning("http agent refused: %s", exc.reason)
            raise RunnerError(
                f"http: refused: {exc.reason}", user_message="This agent is misconfigured."
            ) from None
        if isinstance(exc.reason, TimeoutError):
            raise RunnerTimeout(f"http: timed out after {timeout}s") from None
        raise RunnerError(f"http: cannot reach {config['url']}: {exc.reason}") from None
    except TimeoutError:
        raise RunnerTimeout(f"http: timed out after {timeout}s") from None
    except (HTTPException, OSError, ValueError) as exc:
        raise RunnerError(f"http: bad reply: {exc!r}") from None
    return _output_from_reply(body, content_type, charset)


register("phishing_url", check_urls, label="Phishing URL checker",
         validate_input=phishing.validate_input, limits=phishing.LIMITS)
register("email_headers", analyse_headers, label="Email header analyser",
         validate_input=email_headers.validate_input, limits=email_headers.LIMITS)
register("password_audit", audit_passwords, label="Password strength auditor", sensitive_input=True,
         validate_input=passwords.validate_input, limits=passwords.LIMITS)
register("log_triage", triage_log, label="Access log triage",
         validate_input=logs.validate_input, limits=logs.LIMITS)
register(
    "http", run_http, label="External HTTP service", validate_config=_validate_http_config, queued=True
)
