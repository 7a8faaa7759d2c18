"""Project hygiene: environment.yml agrees with pyproject.toml; notebooks are committed clean."""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement

from analysis import config

ROOT = config.PROJ_ROOT
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


#: conda-forge packages whose name differs from the PyPI distribution's
CONDA_TO_PYPI = {"python-igraph": "igraph"}


def _normalise(requirement: str) -> tuple[str, str]:
    req = Requirement(requirement)
    name = re.sub(r"[-_.]+", "-", req.name).lower()
    return CONDA_TO_PYPI.get(name, name), str(req.specifier)


def test_environment_yml_lists_the_same_dependencies_as_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    expected = {_normalise(r) for r in project["dependencies"]}
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    listed = set()
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            listed |= {_normalise(d) for d in dep["pip"] if not d.startswith("-e")}
        elif not dep.startswith(("python", "pip")) or dep.startswith("python-"):
            listed.add(_normalise(dep))
    assert listed == expected, (
        f"only in pyproject: {sorted(expected - listed)}; only in environment.yml: "
        f"{sorted(listed - expected)}"
    )
    python = next(d for d in env["dependencies"] if isinstance(d, str) and d.startswith("python"))
    assert python.replace("python", "") == project["requires-python"]


def test_four_notebooks_exist():
    assert [p.name for p in NOTEBOOKS] == [
        "01_community_health.ipynb",
        "02_interaction_network.ipynb",
        "03_ab_experiment.ipynb",
        "04_community_to_customer.ipynb",
    ]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebooks_committed_without_outputs_and_with_parameters(path: Path):
    nb = json.loads(path.read_text())
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert all(not c.get("outputs") and c.get("execution_count") is None for c in code)
    tagged = [c for c in code if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(tagged) == 1
    assert "dataset: str" in "".join(tagged[0]["source"])
    assert nb["metadata"]["kernelspec"]["name"] == config.KERNEL_NAME
    # thin notebooks: calls, not logic — few statements per cell, no definitions or control flow
    for cell in (c for c in code if c is not tagged[0]):  # the parameters cell only declares
        tree = ast.parse("".join(cell["source"]))
        assert len(tree.body) <= 6, "".join(cell["source"])[:200]
        banned = (ast.FunctionDef, ast.ClassDef, ast.For, ast.While, ast.If, ast.With, ast.Try)
        assert not [n for n in ast.walk(tree) if isinstance(n, banned)], "logic in a notebook"


def test_nbstripout_as_configured_keeps_the_parameters_tag(tmp_path):
    hooks = yaml.safe_load((ROOT / ".pre-commit-config.yaml").read_text())
    args = next(h["args"] for r in hooks["repos"] for h in r["hooks"] if h["id"] == "nbstripout")
    nb = json.loads(NOTEBOOKS[0].read_text())
    nb["cells"][1]["outputs"] = [{"output_type": "stream", "name": "stdout", "text": "x"}]
    nb["cells"][1]["execution_count"] = 3
    copy = tmp_path / "nb.ipynb"
    copy.write_text(json.dumps(nb))
    exe = Path(sys.executable).with_name("nbstripout")
    subprocess.run([str(exe), *args, str(copy)], check=True)
    stripped = json.loads(copy.read_text())
    assert stripped["cells"][1]["outputs"] == []
    assert "parameters" in stripped["cells"][1]["metadata"]["tags"]
