"""`imagesig policy apply --output yaml|table`, and those formats refused elsewhere."""

from __future__ import annotations

import json

import pytest
import yaml
from tests.conftest import shared_dir

from imagesig.cli import main

DIGEST_CASE = shared_dir() / "vectors" / "kyverno" / "cli-digest"


def _apply(output: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(
        [
            "policy",
            "apply",
            "-p",
            str(DIGEST_CASE / "policies.yaml"),
            "-r",
            str(DIGEST_CASE / "resources.yaml"),
            "--output",
            output,
        ]
    )
    return code, capsys.readouterr().out


def test_yaml_output_is_the_json_document(capsys: pytest.CaptureFixture[str]) -> None:
    code_yaml, as_yaml = _apply("yaml", capsys)
    code_json, as_json = _apply("json", capsys)
    assert code_yaml == code_json == 0  # Audit: reported, not blocked
    assert yaml.safe_load(as_yaml) == json.loads(as_json)


def test_table_output_has_a_row_per_rule_result(capsys: pytest.CaptureFixture[str]) -> None:
    code, table = _apply("table", capsys)
    lines = table.splitlines()
    assert code == 0
    assert lines[0].split() == ["RESOURCE", "POLICY/RULE", "IMAGE", "STATUS", "BLOCKING", "MESSAGE"]
    rows = {line.split()[0]: line for line in lines[1:]}
    assert "fail" in rows["Pod/test/no-digest"]
    assert "missing digest for docker.io/nginx:latest" in rows["Pod/test/no-digest"]
    assert "pass" in rows["Pod/test/with-digest"]


@pytest.mark.parametrize("output", ["yaml", "table"])
def test_other_commands_refuse_yaml_and_table(
    output: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["verify", "--output", output, "--key", "cosign.pub", "example.com/app:1"])
    assert code == 2
    assert "policy apply" in capsys.readouterr().err
