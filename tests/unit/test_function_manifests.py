"""Each function's requirements.txt installs nothing: the functions' dependencies come from the
layer alone. The file is there so that `sam build` has a manifest to read (without one it warns
once per function), and its only line, --no-index, keeps a package listed there by mistake from
being fetched (the build fails instead)."""

from __future__ import annotations

from pathlib import Path

import pytest

from local.cfn_yaml import load_template

ROOT = Path(__file__).resolve().parents[2]
RESOURCES = load_template(ROOT / "template.yaml")["Resources"]
CODE_URIS = sorted(
    resource["Properties"]["CodeUri"]
    for resource in RESOURCES.values()
    if resource["Type"] == "AWS::Serverless::Function"
)


def test_function_manifests_cover_every_function_folder() -> None:
    folders = sorted(f"{path.relative_to(ROOT).as_posix()}/" for path in ROOT.glob("functions/*/"))
    assert folders == CODE_URIS


@pytest.mark.parametrize("code_uri", CODE_URIS)
def test_function_manifest_installs_nothing_and_says_where_dependencies_live(
    code_uri: str,
) -> None:
    # Given the function's requirements.txt
    text = (ROOT / code_uri / "requirements.txt").read_text(encoding="utf-8")
    lines = [line.strip() for line in text.splitlines()]
    # Then its only instruction is --no-index: no package, nothing fetched
    assert [line for line in lines if line and not line.startswith("#")] == ["--no-index"]
    # and its comment sends the reader to the layer's lock
    assert "layers/common/requirements.txt" in text
