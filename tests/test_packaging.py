"""pyproject.toml and environment.yml must declare the same packages."""

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONDA_TO_PIP = {"pytorch": "torch"}
NOT_PACKAGES = {"python", "pip", "-e .", "-e .[test]"}


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~\[; ]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


def pyproject_packages(extras: bool = True) -> set[str]:
    """The runtime dependencies, and with ``extras`` those of the optional groups too."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    groups = project.get("optional-dependencies", {}).values() if extras else []
    return {_name(r) for r in [*project["dependencies"], *(r for g in groups for r in g)]}


def environment_packages() -> set[str]:
    """Package names under ``dependencies:`` (conda entries and the nested pip list)."""
    names, in_deps = set(), False
    for line in (ROOT / "environment.yml").read_text().splitlines():
        line = line.split("#", 1)[0].rstrip()
        if not line.strip():
            continue
        if not line.startswith((" ", "-")):
            in_deps = line.startswith("dependencies:")
            continue
        m = re.match(r"^\s*-\s*(.+)$", line)
        if in_deps and m and not m.group(1).endswith(":"):
            name = _name(m.group(1))
            if name and m.group(1).strip() not in NOT_PACKAGES and name not in NOT_PACKAGES:
                names.add(CONDA_TO_PIP.get(name, name))
    return names


def test_environment_matches_pyproject():
    py, env = pyproject_packages(), environment_packages()
    assert {"torch", "torchvision", "jupyterlab", "ipywidgets", "matplotlib", "seaborn", "nbconvert",
            "papermill", "pytest", "nbval"} <= py
    # the test tools are an extra (`pip install -e .[test]`, which `make test` runs), not what a user needs
    assert {"pytest", "nbval", "ruff", "playwright"}.isdisjoint(pyproject_packages(extras=False))
    assert py - env == set(), f"in pyproject.toml but not environment.yml: {sorted(py - env)}"
    assert env - py == set(), f"in environment.yml but not pyproject.toml: {sorted(env - py)}"


def test_environment_pins_python_311_and_pillow():
    text = (ROOT / "environment.yml").read_text()
    assert "python=3.11" in text
    assert "pillow<12" in text
    assert any(r.replace(" ", "") == "pillow<12"
               for r in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"])
