"""``imagesig policy``: apply Kyverno policies to resources, run Kyverno CLI tests, answer reviews.

* ``imagesig policy apply -p POLICY... -r RESOURCE...`` evaluates every policy against every
  resource (files or directories of YAML/JSON; AdmissionReviews are accepted as resources),
  like ``kyverno apply``: one line per rule result, then a summary. Exit 1 when a request
  would be blocked (an Enforce rule failed, or an error under ``failurePolicy: Fail``).
* ``imagesig policy test DIR`` runs the Kyverno CLI test files (``kyverno-test.yaml``,
  ``cli.kyverno.io/v1alpha1`` ``Test``) found under DIR: each expected ``result`` is compared
  with the status imagesig gives that policy's rule for that resource (the worst of its
  results; a rule that gave none counts as ``skip``), and ``patchedResource`` files with the
  patched resource (every field they give must match). Exit 1 when an expectation fails.
* ``imagesig policy review FILE`` evaluates an AdmissionReview (``-`` reads standard input)
  and prints the AdmissionReview response. Exit 1 when the request is denied.

Registries are reached as for ``verify`` (``--allow-http-registry`` applies to every image of
the resources); attestors without a ``rekor`` block need a proof from the log named by
``--rekor-url``/``--trusted-root`` (default the public-good log). Namespace selectors match
against no labels, as the Kyverno CLI does.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from imagesig.cli._common import UsageError, emit_json, tlog_options, wants_json

if TYPE_CHECKING:
    from imagesig.client import Client
    from imagesig.policy.engine import PolicyEvaluator
    from imagesig.policy.model import KyvernoPolicy
    from imagesig.policy.report import PolicyReport

__all__ = ["TEST_FILE_NAME", "run"]

#: The test file name the Kyverno CLI looks for.
TEST_FILE_NAME = "kyverno-test.yaml"
_TEST_API_VERSIONS = ("cli.kyverno.io/v1alpha1", "cli.kyverno.io/v1beta1")


def run(args: argparse.Namespace) -> int:
    """Run ``imagesig policy SUBCOMMAND``."""
    command = getattr(args, "policy_command", None)
    if command == "apply":
        return _apply(args)
    if command == "test":
        return _test(args)
    if command == "review":
        return _review(args)
    raise UsageError("policy needs a subcommand: apply, test or review")


# ------------------------------------------------------------------------------------------
# shared


def _documents(sources: Iterable[str]) -> list[tuple[str, Any]]:
    from imagesig.policy.load import read_documents  # noqa: PLC0415

    documents: list[tuple[str, Any]] = []
    for source in sources:
        if source == "-":
            documents.extend(read_documents(sys.stdin.buffer.read()))
        elif not Path(source).exists():
            raise UsageError(f"{source}: no such file or directory")
        else:
            documents.extend(read_documents(source))
    return documents


def _policies(sources: Iterable[str]) -> list[KyvernoPolicy]:
    from imagesig.policy.load import load_policies  # noqa: PLC0415

    paths = list(sources)
    for path in paths:
        if not Path(path).exists():
            raise UsageError(f"{path}: no such file or directory")
    policies = load_policies(*paths, skip_other_kinds=True)
    if not policies:
        raise UsageError("no ClusterPolicy or Policy found in " + ", ".join(paths))
    return policies


def _resources(documents: Iterable[tuple[str, Any]]) -> list[Mapping[str, Any]]:
    return [
        document
        for _, document in documents
        if isinstance(document, Mapping)
        and document.get("kind")
        and not str(document.get("apiVersion", "")).startswith(("kyverno.io/", "cli.kyverno.io/"))
    ]


def _registries(resources: Iterable[Mapping[str, Any]]) -> list[str]:
    """The registries of every image the resources run (for ``--allow-http-registry``)."""
    from imagesig.errors import ImageSigError  # noqa: PLC0415
    from imagesig.policy.admission import AdmissionRequest, is_admission_review  # noqa: PLC0415
    from imagesig.policy.images import extract_images  # noqa: PLC0415
    from imagesig.reference import ImageReference  # noqa: PLC0415

    found: dict[str, None] = {}
    for resource in resources:
        target = (
            AdmissionRequest.from_review(resource).resource
            if is_admission_review(resource)
            else resource
        )
        try:
            images = extract_images(target)
        except ImageSigError:
            continue
        for image in images:
            try:
                found.setdefault(ImageReference.parse(image.image.strip()).registry, None)
            except ImageSigError:
                continue
    return list(found)


def _client(args: argparse.Namespace, resources: Sequence[Mapping[str, Any]]) -> Client:
    from imagesig.client import Client  # noqa: PLC0415

    layout = getattr(args, "oci_layout", None)
    if layout:
        from imagesig.oci.layout import OCILayoutStore  # noqa: PLC0415

        if not Path(layout).is_dir():
            raise UsageError(f"--oci-layout {layout}: not a directory")
        store = OCILayoutStore(layout, create=False)
        return Client(stores={"*": store}, tlog=tlog_options(args, signing=False))
    insecure = _registries(resources) if args.allow_http_registry else []
    return Client(
        insecure_registries=insecure,
        verify=not args.allow_insecure_registry,
        tlog=tlog_options(args, signing=False),
    )


def _evaluator(policies: Sequence[KyvernoPolicy], client: Client) -> PolicyEvaluator:
    from imagesig.policy.engine import PolicyEvaluator  # noqa: PLC0415

    return PolicyEvaluator(policies, client=client)


def _evaluate(evaluator: PolicyEvaluator, resource: Mapping[str, Any]) -> PolicyReport:
    return evaluator.evaluate(resource, namespace_labels={})


# ------------------------------------------------------------------------------------------
# apply


def _apply(args: argparse.Namespace) -> int:
    policies = _policies(args.policies)
    resources = _resources(_documents(args.resources))
    if not resources:
        raise UsageError("no resources found in " + ", ".join(args.resources))
    with _client(args, resources) as client:
        evaluator = _evaluator(policies, client)
        reports = [_evaluate(evaluator, resource) for resource in resources]
    blocked = any(report.blocked for report in reports)
    document = {
        "blocked": blocked,
        "reports": [report.to_dict() for report in reports],
        "summary": _total(reports),
    }
    if wants_json(args):
        emit_json(document)
    elif args.output == "yaml":
        import yaml  # noqa: PLC0415 - only this output needs it

        print(yaml.safe_dump(document, sort_keys=False), end="")
    elif args.output == "table":
        _print_table(reports)
    else:
        _print_reports(reports)
    return 1 if blocked else 0


_TABLE_COLUMNS = ("RESOURCE", "POLICY/RULE", "IMAGE", "STATUS", "BLOCKING", "MESSAGE")


def _print_table(reports: Sequence[PolicyReport]) -> None:
    """One row per rule result, aligned columns, like ``kyverno apply --table``."""
    rows = [
        (
            f"{report.kind}/{report.namespace}/{report.name}".replace("//", "/"),
            f"{result.policy_key}/{result.rule}",
            result.image or "-",
            result.status.value,
            "yes" if result.blocking else "no",
            " ".join(result.message.split()),
        )
        for report in reports
        for result in report.results
    ]
    widths = [
        max(len(column), *(len(row[i]) for row in rows)) if rows else len(column)
        for i, column in enumerate(_TABLE_COLUMNS)
    ]
    for row in (_TABLE_COLUMNS, *rows):
        print(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )


def _total(reports: Sequence[PolicyReport]) -> dict[str, int]:
    total: dict[str, int] = {}
    for report in reports:
        for status, count in report.summary().items():
            total[status] = total.get(status, 0) + count
    return total


def _print_reports(reports: Sequence[PolicyReport]) -> None:
    for report in reports:
        verdict = "BLOCKED" if report.blocked else "allowed"
        print(f"{report.kind}/{report.namespace}/{report.name}: {verdict}")
        if not report.results:
            print("  no rule applies")
        for result in report.results:
            image = f" [{result.image}]" if result.image else ""
            print(
                f"  {result.status.value.upper():<5} {result.policy_key}/{result.rule}{image}:"
                f" {result.message}"
            )
        for patch in report.image_patches:
            print(f"  patch {patch.get('op')} {patch.get('path')} {patch.get('value')}")
    counts = _total(reports)
    print(
        f"\npass: {counts['pass']}, fail: {counts['fail']}, warn: {counts['warn']}, "
        f"error: {counts['error']}, skip: {counts['skip']}"
    )


# ------------------------------------------------------------------------------------------
# review


def _review(args: argparse.Namespace) -> int:
    from imagesig.policy.admission import is_admission_review  # noqa: PLC0415

    policies = _policies(args.policies)
    documents = _documents([args.file])
    reviews = [document for _, document in documents if is_admission_review(document)]
    if len(reviews) != 1:
        raise UsageError(f"{args.file}: expected one AdmissionReview, found {len(reviews)}")
    with _client(args, reviews) as client:
        report = _evaluate(_evaluator(policies, client), reviews[0])
    response = report.to_admission_response()
    if wants_json(args):
        emit_json(response)
    else:
        print(json.dumps(response, indent=2))
        if report.blocked:
            print(report.message.strip(), file=sys.stderr)
    return 1 if report.blocked else 0


# ------------------------------------------------------------------------------------------
# test


def _load_test(path: Path) -> Mapping[str, Any]:
    from imagesig.policy.load import read_documents  # noqa: PLC0415

    documents = [document for _, document in read_documents(path)]
    if len(documents) != 1 or not isinstance(documents[0], Mapping):
        raise UsageError(f"{path}: a test file holds exactly one Test document")
    test = documents[0]
    api_version = test.get("apiVersion")
    if api_version is not None and api_version not in _TEST_API_VERSIONS:
        raise UsageError(f"{path}: unsupported test apiVersion {api_version!r}")
    return test


def _names(entry: Mapping[str, Any]) -> list[str]:
    names = entry.get("resources")
    if isinstance(names, list):
        return [str(name) for name in names]
    single = entry.get("resource")
    return [str(single)] if single else []


def _identifies(report: PolicyReport, name: str, kind: str) -> bool:
    if kind and report.kind != kind:
        return False
    candidates = {report.name, f"{report.namespace}/{report.name}"}
    candidates.add(f"{report.kind}/{report.namespace}/{report.name}")
    candidates.add(f"{report.kind}/{report.name}")
    return name in candidates


def _subset(expected: Any, actual: Any) -> bool:
    if isinstance(expected, Mapping):
        return isinstance(actual, Mapping) and all(
            key in actual and _subset(value, actual[key]) for key, value in expected.items()
        )
    if isinstance(expected, list):
        return (
            isinstance(actual, list)
            and len(expected) == len(actual)
            and all(_subset(e, a) for e, a in zip(expected, actual, strict=True))
        )
    return bool(expected == actual)


def _run_test(args: argparse.Namespace, path: Path) -> list[dict[str, Any]]:
    test = _load_test(path)
    base = path.parent
    policies = _policies([str(base / str(p)) for p in test.get("policies") or []])
    resource_files = [str(base / str(r)) for r in test.get("resources") or []]
    resources = _resources(_documents(resource_files))
    with _client(args, resources) as client:
        evaluator = _evaluator(policies, client)
        reports = [_evaluate(evaluator, resource) for resource in resources]
    outcomes: list[dict[str, Any]] = []
    for entry in test.get("results") or []:
        if not isinstance(entry, Mapping):
            raise UsageError(f"{path}: every result must be an object")
        policy, rule = str(entry.get("policy", "")), str(entry.get("rule", ""))
        expected = str(entry.get("result", entry.get("status", "")))
        kind = str(entry.get("kind", ""))
        patched_file = entry.get("patchedResource")
        for name in _names(entry):
            matching = [report for report in reports if _identifies(report, name, kind)]
            outcome: dict[str, Any] = {
                "test": str(path),
                "policy": policy,
                "rule": rule,
                "resource": name,
                "expected": expected,
            }
            if not matching:
                outcome.update(actual="not found", ok=False)
                outcomes.append(outcome)
                continue
            status = matching[0].status_of(policy, rule)
            actual = status.value if status is not None else "skip"
            ok = actual == expected
            if ok and patched_file:
                ok = _patched_matches(base / str(patched_file), matching[0])
                if not ok:
                    actual = f"{actual} (patched resource differs)"
            outcome.update(actual=actual, ok=ok)
            outcomes.append(outcome)
    return outcomes


def _patched_matches(path: Path, report: PolicyReport) -> bool:
    from imagesig.policy.load import read_documents  # noqa: PLC0415

    for _, document in read_documents(path):
        if isinstance(document, Mapping) and document.get("kind") == report.kind:
            metadata = document.get("metadata")
            name = metadata.get("name") if isinstance(metadata, Mapping) else None
            if name == report.name:
                return _subset(document, report.patched_resource)
    return False


def _test(args: argparse.Namespace) -> int:
    root = Path(args.directory)
    if root.is_file():
        files = [root]
    elif root.is_dir():
        files = sorted(root.rglob(args.file_name))
    else:
        raise UsageError(f"{root}: no such file or directory")
    if not files:
        raise UsageError(f"no {args.file_name} found under {root}")
    outcomes: list[dict[str, Any]] = []
    for path in files:
        outcomes.extend(_run_test(args, path))
    failed = [outcome for outcome in outcomes if not outcome["ok"]]
    if wants_json(args):
        emit_json({"passed": not failed, "results": outcomes})
    else:
        for outcome in outcomes:
            mark = "PASS" if outcome["ok"] else "FAIL"
            print(
                f"{mark}  {outcome['policy']}/{outcome['rule']}  {outcome['resource']}"
                f"  expected {outcome['expected']}, got {outcome['actual']}"
                f"  ({outcome['test']})"
            )
        print(f"\n{len(outcomes) - len(failed)} of {len(outcomes)} expectations met")
    return 1 if failed else 0
