"""Community Workbench: honest statistics about online communities.

Import what a notebook needs from here::

    from analysis import Community, health, network, experiments, conversion, report

The studies are functions ``f(community, *, options) -> Result``; results display as tables and
plots in JupyterLab and export to plain-language reports.
"""

from analysis.data import Community, read_manifest, write_dataset

__all__ = ["Community", "read_manifest", "write_dataset"]
