"""A small local stand-in for the Stripe API, for the official `stripe` client to talk to.

Tests cannot reach Stripe, and `localstripe` has no Checkout Sessions, so this answers the calls
AI Lounge makes the way Stripe's API reference describes them:

- `POST /v1/checkout/sessions` (form-encoded, bracket notation for nested params) → a Checkout
  Session object (`cs_test_…`, `object: "checkout.session"`, `url`, `status: "open"`,
  `payment_status: "unpaid"`, `amount_total`, `currency`, `client_reference_id`, `metadata`…);
  a repeated `Idempotency-Key` replays the first response, as Stripe does.
- `GET /v1/checkout/sessions/{id}` → the session, or a 404 `resource_missing` error.

Errors use Stripe's shape: `{"error": {"type", "code", "message", "param"}}`. Requests need
`Authorization: Bearer sk_test_…` (401 otherwise). Every request is recorded in `requests`.

Tests move a session on with `complete()` / `fail_next()` and build webhook payloads with
`event()`; `signed_headers()` signs a payload as Stripe does (`t=<ts>,v1=<HMAC-SHA256>`).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from tests.fakes.http import FakeServer


def _id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(12)}"


def decode_form(body: str) -> dict[str, Any]:
    """Stripe's form encoding: `a[b][0][c]=v` → {"a": {"b": [{"c": "v"}]}}."""
    root: dict[str, Any] = {}
    for key, value in parse_qsl(body, keep_blank_values=True):
        parts = key.replace("]", "").split("[")
        node: Any = root
        for index, part in enumerate(parts):
            last = index == len(parts) - 1
            following = None if last else parts[index + 1]
            child_default: Any = value if last else ([] if following.isdigit() else {})
            if isinstance(node, list):
                position = int(part)
                while len(node) <= position:
                    node.append(None)
                if node[position] is None or last:
                    node[position] = child_default
                node = node[position]
            else:
                if part not in node or last:
                    node[part] = child_default
                node = node[part]
    return root


@dataclass
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    params: dict[str, Any]


@dataclass
class FakeStripe:
    """State shared between the HTTP handler and the test."""

    base_url: str = ""
    sessions: dict[str, dict[str, Any]] = field(default_factory=dict)
    prices: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests: list[RecordedRequest] = field(default_factory=list)
    idempotent: dict[str, tuple[int, dict[str, Any]]] = field(default_factory=dict)
    failures: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    # --- what tests call ----------------------------------------------------------------------

    def add_price(self, *, unit_amount: int, currency: str = "usd") -> str:
        price_id = _id("price")
        self.prices[price_id] = {
            "id": price_id,
            "object": "price",
            "unit_amount": unit_amount,
            "currency": currency,
        }
        return price_id

    def fail_next(self, *, status: int = 500, message: str = "Something went wrong.") -> None:
        """The next API call answers with a Stripe error (`api_error` for 5xx)."""
        kind = "api_error" if status >= 500 else "invalid_request_error"
        self.failures.append((status, {"error": {"type": kind, "message": message}}))

    def complete(self, session_id: str, *, payment_status: str = "paid") -> dict[str, Any]:
        """The customer finished paying: the session becomes `complete` with a PaymentIntent."""
        with self.lock:
            session = self.sessions[session_id]
            session["status"] = "complete"
            session["payment_status"] = payment_status
            session["payment_intent"] = session["payment_intent"] or _id("pi")
            return json.loads(json.dumps(session))

    def charge(
        self, session_id: str, *, amount_refunded: int = 0, with_metadata: bool = True
    ) -> dict[str, Any]:
        """The Charge behind a completed session (for charge.* events)."""
        session = self.sessions[session_id]
        metadata = session["_payment_intent_metadata"] if with_metadata else {}
        charge = session.setdefault("_charge_id", _id("ch"))
        return {
            "id": charge,
            "object": "charge",
            "amount": session["amount_total"],
            "amount_captured": session["amount_total"],
            "amount_refunded": amount_refunded,
            "currency": session["currency"],
            "paid": True,
            "captured": True,
            "refunded": amount_refunded >= session["amount_total"],
            "payment_intent": session["payment_intent"],
            "metadata": dict(metadata),
            "status": "succeeded",
            "livemode": False,
        }

    def dispute(self, session_id: str, *, status: str = "lost", amount: int | None = None):
        session = self.sessions[session_id]
        return {
            "id": _id("dp"),
            "object": "dispute",
            "amount": session["amount_total"] if amount is None else amount,
            "currency": session["currency"],
            "charge": session.setdefault("_charge_id", _id("ch")),
            "payment_intent": session["payment_intent"],
            "reason": "fraudulent",
            "status": status,
            "livemode": False,
        }

    @staticmethod
    def event(event_type: str, obj: dict[str, Any], *, event_id: str | None = None) -> str:
        """A webhook payload (JSON text) as Stripe sends it."""
        public = {k: v for k, v in obj.items() if not k.startswith("_")}
        return json.dumps(
            {
                "id": event_id or _id("evt"),
                "object": "event",
                "api_version": "2025-03-31.basil",
                "created": int(time.time()),
                "data": {"object": public},
                "livemode": False,
                "pending_webhooks": 1,
                "request": {"id": None, "idempotency_key": None},
                "type": event_type,
            }
        )

    @staticmethod
    def signature(payload: str, secret: str, *, timestamp: int | None = None) -> str:
        timestamp = int(time.time()) if timestamp is None else timestamp
        mac = hmac.new(secret.encode(), f"{timestamp}.{payload}".encode(), hashlib.sha256)
        return f"t={timestamp},v1={mac.hexdigest()}"

    # --- the API -------------------------------------------------------------------------------

    def response_headers(self) -> dict[str, str]:
        return {"Request-Id": _id("req")}

    def handle(self, method: str, path: str, headers: dict[str, str], raw: bytes):
        body = raw.decode()
        params = decode_form(body) if body else {}
        query = urlsplit(path).query
        if query:
            params.update(decode_form(query))
        path = urlsplit(path).path
        with self.lock:
            self.requests.append(RecordedRequest(method, path, headers, params))
            if not headers.get("authorization", "").startswith("Bearer sk_test_"):
                return 401, _error(
                    "invalid_request_error", "Invalid API Key provided.", code="api_key_invalid"
                )
            if self.failures:
                return self.failures.pop(0)
            key = headers.get("idempotency-key")
            if method == "POST" and key and key in self.idempotent:
                return self.idempotent[key]
            result = self._route(method, path, params)
            if method == "POST" and key:
                self.idempotent[key] = result
            return result

    def _route(self, method: str, path: str, params: dict[str, Any]):
        if method == "POST" and path == "/v1/checkout/sessions":
            return self._session_create(params)
        prefix = "/v1/checkout/sessions/"
        if method == "GET" and path.startswith(prefix) and "/" not in path[len(prefix) :]:
            session = self.sessions.get(path[len(prefix) :])
            if session is None:
                return 404, _error(
                    "invalid_request_error",
                    f"No such checkout.session: '{path[len(prefix) :]}'",
                    code="resource_missing",
                    param="session",
                )
            return 200, {k: v for k, v in session.items() if not k.startswith("_")}
        return 404, _error("invalid_request_error", f"Unrecognized request URL ({method}: {path}).")

    def _session_create(self, params: dict[str, Any]):
        for required in ("mode", "success_url", "line_items"):
            if not params.get(required):
                return 400, _error(
                    "invalid_request_error",
                    f"Missing required param: {required}.",
                    code="parameter_missing",
                    param=required,
                )
        if params["mode"] not in ("payment", "subscription", "setup"):
            return 400, _error("invalid_request_error", "Invalid mode.", param="mode")
        total = 0
        currency = None
        for index, item in enumerate(params["line_items"]):
            quantity = int(item.get("quantity", 1))
            if "price" in item:
                price = self.prices.get(item["price"])
                if price is None:
                    return 400, _error(
                        "invalid_request_error",
                        f"No such price: '{item['price']}'",
                        code="resource_missing",
                        param=f"line_items[{index}][price]",
                    )
                unit, currency = price["unit_amount"], price["currency"]
            elif "price_data" in item:
                data = item["price_data"]
                if "currency" not in data or "unit_amount" not in data:
                    return 400, _error(
                        "invalid_request_error",
                        "price_data needs currency and unit_amount.",
                        code="parameter_missing",
                        param=f"line_items[{index}][price_data]",
                    )
                unit, currency = int(data["unit_amount"]), data["currency"]
            else:
                return 400, _error(
                    "invalid_request_error",
                    "Each line item needs a price or price_data.",
                    param=f"line_items[{index}]",
                )
            total += unit * quantity
        session_id = f"cs_test_{secrets.token_hex(24)}"
        now = int(time.time())
        session = {
            "id": session_id,
            "object": "checkout.session",
            "amount_subtotal": total,
            "amount_total": total,
            "cancel_url": params.get("cancel_url"),
            "client_reference_id": params.get("client_reference_id"),
            "created": now,
            "currency": currency,
            "customer": None,
            "customer_email": params.get("customer_email"),
            "expires_at": now + 24 * 3600,
            "livemode": False,
            "metadata": params.get("metadata", {}),
            "mode": params["mode"],
            "payment_intent": None,
            "payment_status": "unpaid",
            "status": "open",
            "success_url": params["success_url"],
            "url": f"https://checkout.stripe.com/c/pay/{session_id}",
            "_payment_intent_metadata": (params.get("payment_intent_data") or {}).get(
                "metadata", {}
            ),
            "_line_items": params["line_items"],
        }
        self.sessions[session_id] = session
        return 200, {k: v for k, v in session.items() if not k.startswith("_")}


def _error(kind: str, message: str, *, code: str | None = None, param: str | None = None):
    error: dict[str, Any] = {"type": kind, "message": message}
    if code:
        error["code"] = code
    if param:
        error["param"] = param
    return {"error": error}


class StripeServer(FakeServer):
    """A FakeStripe on 127.0.0.1: ``start()``, ``stop()`` (the pytest fixtures do both)."""

    def __init__(self) -> None:
        super().__init__(FakeStripe(), name="fake-stripe")
