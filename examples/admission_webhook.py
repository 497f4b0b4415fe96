"""A validating/mutating admission webhook for Kyverno ``verifyImages`` policies, in plain ASGI.

No web framework: :func:`create_app` returns an ASGI callable that any ASGI server runs.
Kubernetes POSTs an ``admission.k8s.io/v1`` AdmissionReview; the app evaluates it with an
:class:`~imagesig.policy.AsyncPolicyEvaluator` (the images of a rule are verified
concurrently, passes are cached) and answers with the report's AdmissionReview response:
``allowed``, Kyverno's message when denied, and the ``mutateDigest`` patches as a base64
JSON Patch.

Run it (uvicorn is not an imagesig dependency; any ASGI server works; the API server only
calls webhooks over TLS)::

    IMAGESIG_POLICIES=policies/ uvicorn examples.admission_webhook:app \\
        --ssl-keyfile tls.key --ssl-certfile tls.crt --port 8443

Routes: ``POST`` with an AdmissionReview body (any path) and ``GET /healthz``. A body that
is not JSON or not an AdmissionReview gets ``400``; a body above :data:`MAX_BODY_BYTES` gets
``413`` (the API server then applies the webhook's ``failurePolicy``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from imagesig import AsyncClient
from imagesig.errors import AdmissionReviewError
from imagesig.policy import AsyncPolicyEvaluator, load_policies

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: Largest request body read (the API server limits objects to about 3 MiB).
MAX_BODY_BYTES = 4 * 1024 * 1024


class BodyTooLargeError(Exception):
    """The request body is above :data:`MAX_BODY_BYTES`."""


async def read_body(receive: Receive) -> bytes:
    """Read an HTTP request body, refusing more than :data:`MAX_BODY_BYTES`."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise BodyTooLargeError
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


async def respond(send: Send, status: int, document: Any) -> None:
    body = json.dumps(document, separators=(",", ":")).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def create_app(evaluator: AsyncPolicyEvaluator) -> ASGIApp:
    """An ASGI application answering AdmissionReviews with ``evaluator``.

    The evaluator (and its client) is closed at the ASGI ``lifespan`` shutdown.
    """

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await evaluator.aclose()
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        if scope["method"] == "GET" and scope["path"] == "/healthz":
            await respond(send, 200, {"status": "ok"})
            return
        if scope["method"] != "POST":
            await respond(send, 405, {"error": "POST an AdmissionReview"})
            return
        try:
            review = json.loads(await read_body(receive))
        except BodyTooLargeError:
            await respond(send, 413, {"error": f"body above {MAX_BODY_BYTES} bytes"})
            return
        except ValueError:
            await respond(send, 400, {"error": "the body is not JSON"})
            return
        if not isinstance(review, dict) or review.get("kind") != "AdmissionReview":
            await respond(send, 400, {"error": "the body is not an AdmissionReview"})
            return
        try:
            report = await evaluator.evaluate(review)
        except AdmissionReviewError as exc:
            await respond(send, 400, {"error": exc.message})
            return
        await respond(send, 200, report.to_admission_response())

    return app


def app_from_environment() -> ASGIApp:
    """The app for ``IMAGESIG_POLICIES`` (a policy file or directory), with a new client."""
    source = os.environ.get("IMAGESIG_POLICIES", "policies")
    return create_app(AsyncPolicyEvaluator(load_policies(source), client=AsyncClient()))


_app: ASGIApp | None = None


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    """The module-level ASGI callable: built from the environment on first use."""
    global _app  # noqa: PLW0603 - one app per process, built lazily
    if _app is None:
        _app = app_from_environment()
    await _app(scope, receive, send)
