"""Paths and settings, in one place.

Every path the package uses is absolute, so notebooks run by papermill from any working directory
read and write the same files. :data:`PROJ_ROOT` is the checkout (notebooks, ``workbench.toml``);
:data:`WORK_ROOT` holds ``data/`` and ``reports/`` and is the checkout too unless the environment
variable ``WORKBENCH_HOME`` points elsewhere (tests point it at a temporary folder).
``WORKBENCH_SHARED`` overrides where the shared reference data lives (default: ``../shared``
beside the project root).
"""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent


def _find_project_root() -> Path:
    # src/analysis/config.py -> project root, when installed editable from a checkout
    candidate = PACKAGE_DIR.parent.parent
    if (candidate / "pyproject.toml").exists():
        return candidate
    return Path.cwd().resolve()


PROJ_ROOT: Path = _find_project_root()
WORK_ROOT: Path = Path(os.environ.get("WORKBENCH_HOME") or PROJ_ROOT).resolve()
DATA_DIR: Path = WORK_ROOT / "data"
DATA_RAW: Path = DATA_DIR / "raw"
DATA_PROCESSED: Path = DATA_DIR / "processed"
REPORTS_DIR: Path = WORK_ROOT / "reports"
NOTEBOOKS_DIR: Path = PROJ_ROOT / "notebooks"
RUN_CONFIG: Path = PROJ_ROOT / "workbench.toml"
SHARED_DIR: Path = Path(os.environ.get("WORKBENCH_SHARED", PROJ_ROOT.parent / "shared")).resolve()

#: Name of the project's own Jupyter kernel (``python -m ipykernel install --sys-prefix``).
KERNEL_NAME = "community-workbench"

#: Environment variable holding the key for pseudonymous member ids.
PSEUDONYM_KEY_ENV = "WORKBENCH_PSEUDONYM_KEY"
#: Git-ignored file holding the key when the environment variable is not set.
PSEUDONYM_KEY_FILE: Path = WORK_ROOT / ".workbench-key"

#: Version of the canonical table layout written to ``manifest.json``.
SCHEMA_VERSION = "1"


def dataset_dir(dataset: str | os.PathLike[str]) -> Path:
    """Resolve a processed dataset: an existing path as is, else a name under data/processed."""
    path = Path(dataset)
    if path.is_absolute() or path.exists():
        return path.resolve()
    return DATA_PROCESSED / str(dataset)
