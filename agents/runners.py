"""
The runner registry: runner key -> callable(input_text, config) -> output text.

A runner raises RunnerError (or RunnerTimeout) when it cannot produce an output; agents.services
then refunds the run. Runners are called outside any database transaction, so the `http` runner
may take its time without holding a lock.
"""

from __future__ import annotations

import json
import logging
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from http.client import HTTPException
from urllib.parse import urlsplit

from .builtins.email_headers import analyse_headers
from .builtins.logs import triage_log
from .builtins.passwords import audit_passwords
from .builtins.phishing import check_urls
from .exceptions import RunnerError, RunnerTimeout

logger = logging.getLogger(__name__)

RunnerFunc = Callable[[str, dict], str]
ConfigValidator = Callable[[dict], list[str]]


@dataclass(frozen=True)
class RunnerSpec:
    key: str
    label: str
    func: RunnerFunc
    # Input that must not be stored with the run (passwords): the run keeps only its length.
    sensitive_input: bool = False
    validate_config: ConfigValidator | None = None

    def __call__(self, input_text: str, config: dict) -> str:
        return self.func(input_text, config)


REGISTRY: dict[str, RunnerSpec] = {}


def register(key: str, func: RunnerFunc, *, label: str, sensitive_input: bool = False,
             validate_config: ConfigValidator | None = None) -> RunnerSpec:
    """Add a runner to the registry (a later registration of the same key replaces it)."""
    spec = RunnerSpec(key, label, func, sensitive_input, validate_config)
    REGISTRY[key] = spec
    return spec


def get_runner(key: str) -> RunnerSpec:
    """The registered runner for `key`; an unknown key is a RunnerError (the run is refunded)."""
    try:
        return REGISTRY[key]
    except KeyError:
        raise RunnerError(f"unknown runner {key!r}", user_message="This agent is misconfigured.") from None


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


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirect is an error: urllib would replay a POST as a GET elsewhere."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


_opener = urllib.request.build_opener(_NoRedirect)


def _validate_http_config(config: dict) -> list[str]:
    problems = []
    url = config.get("url")
    parts = urlsplit(url) if isinstance(url, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        problems.append('"url" must be an http(s) URL, e.g. "https://n8n.example.com/webhook/scan".')
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
    chunks, size = [], 0
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
    if content_type.startswith("text/"):
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
            body = _read_limited(response, deadline)
            content_type = response.headers.get_content_type()
            charset = response.headers.get_content_charset() or "utf-8"
    except urllib.error.HTTPError as exc:
        exc.close()
        raise RunnerError(f"http: status {exc.code} from {config['url']}") from None
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, TimeoutError):
            raise RunnerTimeout(f"http: timed out after {timeout}s") from None
        raise RunnerError(f"http: cannot reach {config['url']}: {exc.reason}") from None
    except TimeoutError:
        raise RunnerTimeout(f"http: timed out after {timeout}s") from None
    except (HTTPException, OSError, ValueError) as exc:
        raise RunnerError(f"http: bad reply: {exc!r}") from None
    return _output_from_reply(body, content_type, charset)


register("phishing_url", check_urls, label="Phishing URL checker")
register("email_headers", analyse_headers, label="Email header analyser")
register("password_audit", audit_passwords, label="Password strength auditor", sensitive_input=True)
register("log_triage", triage_log, label="Access log triage")
register("http", run_http, label="External HTTP service", validate_config=_validate_http_config)
