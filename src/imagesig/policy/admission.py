"""Kubernetes AdmissionReview in and out: what a Python admission webhook exchanges.

:meth:`AdmissionRequest.from_review` reads the ``request`` of an ``admission.k8s.io/v1`` (or
``v1beta1``) AdmissionReview: uid, kind, subresource, operation, namespace, user, object and
old object. The evaluator takes the review itself
(``evaluator.evaluate(review)``) and answers with
:meth:`~imagesig.policy.report.PolicyReport.to_admission_response`, built by
:func:`admission_response`: ``allowed``, a ``Failure`` status with the denial message, and
the patches as base64 JSON Patch.

On ``CREATE`` the API server may send an object without ``metadata.namespace``; the request's
``namespace`` is filled in (on a copy) so that namespace matching sees it.

Example::

    review = json.loads(body)
    report = evaluator.evaluate(review)
    return report.to_admission_response()
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from typing import Any, Final

import attrs

from imagesig.errors import AdmissionReviewError
from imagesig.policy.match import RequestInfo, ResourceIdentity

__all__ = [
    "ADMISSION_API_VERSIONS",
    "AdmissionRequest",
    "admission_response",
    "is_admission_review",
]

#: The AdmissionReview versions read (and answered in the same version).
ADMISSION_API_VERSIONS: Final = ("admission.k8s.io/v1", "admission.k8s.io/v1beta1")
_KIND = "AdmissionReview"
_OPERATIONS = ("CREATE", "UPDATE", "DELETE", "CONNECT")


def is_admission_review(document: object) -> bool:
    """Whether ``document`` looks like an AdmissionReview (``kind: AdmissionReview``)."""
    return isinstance(document, Mapping) and document.get("kind") == _KIND


def _string(data: Mapping[str, Any], key: str) -> str:
    value = data.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise AdmissionReviewError(f"request.{key} must be a string, not {type(value).__name__}")
    return value


def _object(data: Mapping[str, Any], key: str) -> Mapping[str, Any] | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise AdmissionReviewError(f"request.{key} must be an object")
    return value


@attrs.frozen(kw_only=True)
class AdmissionRequest:
    """The ``request`` of an AdmissionReview.

    Attributes:
        uid: ``uid``, echoed in the response.
        api_version: the review's ``apiVersion``.
        operation: ``CREATE``, ``UPDATE``, ``DELETE`` or ``CONNECT``.
        namespace: ``namespace``.
        name: ``name``.
        identity: group, version, kind (``kind``) and ``subResource``.
        object: ``object`` (with ``metadata.namespace`` filled from :attr:`namespace`).
        old_object: ``oldObject``.
        user: ``userInfo`` (username and groups).
        dry_run: ``dryRun``.
    """

    uid: str
    api_version: str = ADMISSION_API_VERSIONS[0]
    operation: str = "CREATE"
    namespace: str = ""
    name: str = ""
    identity: ResourceIdentity | None = None
    object: Mapping[str, Any] | None = None
    old_object: Mapping[str, Any] | None = None
    user: RequestInfo | None = None
    dry_run: bool = False

    @property
    def resource(self) -> Mapping[str, Any]:
        """The object policies look at: ``object``, or ``oldObject`` for a DELETE."""
        if self.object is not None:
            return self.object
        return self.old_object if self.old_object is not None else {}

    @classmethod
    def from_review(cls, review: Mapping[str, Any]) -> AdmissionRequest:
        """Read an AdmissionReview.

        Raises:
            AdmissionReviewError: it is not an AdmissionReview of a known version, or its
                request is malformed.
        """
        if not is_admission_review(review):
            raise AdmissionReviewError("the document is not an AdmissionReview")
        api_version = review.get("apiVersion")
        if api_version not in ADMISSION_API_VERSIONS:
            raise AdmissionReviewError(
                f"AdmissionReview apiVersion {api_version!r} is not supported",
                hint=f"send one of {', '.join(ADMISSION_API_VERSIONS)}",
            )
        request = review.get("request")
        if not isinstance(request, Mapping):
            raise AdmissionReviewError("the AdmissionReview has no request")
        uid = _string(request, "uid")
        if not uid:
            raise AdmissionReviewError("the AdmissionReview request has no uid")
        operation = _string(request, "operation") or "CREATE"
        if operation not in _OPERATIONS:
            raise AdmissionReviewError(f"request.operation {operation!r} is unknown")
        namespace = _string(request, "namespace")
        obj = _object(request, "object")
        old = _object(request, "oldObject")
        if obj is not None and namespace:
            obj = _with_namespace(obj, namespace)
        if old is not None and namespace:
            old = _with_namespace(old, namespace)
        return cls(
            uid=uid,
            api_version=str(api_version),
            operation=operation,
            namespace=namespace,
            name=_string(request, "name"),
            identity=_identity(request, obj if obj is not None else old),
            object=obj,
            old_object=old,
            user=_user(request),
            dry_run=request.get("dryRun") is True,
        )


def _with_namespace(obj: Mapping[str, Any], namespace: str) -> Mapping[str, Any]:
    metadata = obj.get("metadata")
    if isinstance(metadata, Mapping) and metadata.get("namespace"):
        return obj
    copied = copy.copy(dict(obj))
    copied["metadata"] = {
        **(metadata if isinstance(metadata, Mapping) else {}),
        "namespace": namespace,
    }
    return copied


def _identity(request: Mapping[str, Any], obj: Mapping[str, Any] | None) -> ResourceIdentity | None:
    kind = _object(request, "kind")
    subresource = _string(request, "subResource")
    if kind is None:
        if obj is None:
            return None
        return ResourceIdentity.of(obj, subresource)
    return ResourceIdentity(
        group=_string(kind, "group"),
        version=_string(kind, "version"),
        kind=_string(kind, "kind"),
        subresource=subresource,
    )


def _user(request: Mapping[str, Any]) -> RequestInfo | None:
    info = _object(request, "userInfo")
    if info is None:
        return None
    groups = info.get("groups")
    return RequestInfo(
        username=_string(info, "username"),
        groups=tuple(g for g in groups if isinstance(g, str)) if isinstance(groups, list) else (),
    )


def admission_response(
    uid: str,
    *,
    allowed: bool,
    message: str = "",
    patches: Iterable[Mapping[str, Any]] = (),
    warnings: Iterable[str] = (),
    api_version: str = ADMISSION_API_VERSIONS[0],
) -> dict[str, Any]:
    """Build an AdmissionReview response.

    Args:
        uid: the request's ``uid``.
        allowed: whether the request is admitted.
        message: the denial message (``status.message`` with ``status: Failure``).
        patches: JSON patches for an admitted request (sent base64-encoded).
        warnings: warnings shown to the client.
        api_version: the AdmissionReview version of the request.

    Returns:
        The AdmissionReview document.
    """
    from imagesig.policy.report import encode_patches  # noqa: PLC0415 - avoids an import cycle

    response: dict[str, Any] = {"uid": uid, "allowed": allowed}
    if not allowed:
        response["status"] = {"status": "Failure", "message": message}
    patch_list = list(patches)
    if allowed and patch_list:
        response["patchType"] = "JSONPatch"
        response["patch"] = encode_patches(patch_list)
    warning_list = list(warnings)
    if warning_list:
        response["warnings"] = warning_list
    return {"apiVersion": api_version, "kind": _KIND, "response": response}
