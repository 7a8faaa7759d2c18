"""Runner pieces that need no kernel: config, parameter validation, HTML export, index page."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from analysis import config
from analysis.data import write_dataset
from analysis.report import FINDINGS_MIME, Findings, extract_findings, findings
from analysis.runner import (
    RunConfigError,
    RunEntry,
    export_html,
    load_run_config,
    select_entries,
    validate_parameters,
    write_index,
)


def test_project_run_config_is_valid_and_matches_notebooks():
    entries = load_run_config(config.RUN_CONFIG)
    assert {e.name for e in entries if e.run == "demo"} == {
        "community_health",
        "interaction_network",
        "ab_experiment",
        "community_to_customer",
    }
    for entry in entries:
        assert entry.notebook.exists() and entry.notebook.is_absolute()


def _write_toml(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "workbench.toml"
    path.write_text(body)
    return path


def test_config_errors_name_the_entry_and_field(tmp_path):
    with pytest.raises(RunConfigError, match=r"#1: field 'dataset' is required"):
        load_run_config(_write_toml(tmp_path, '[[runs]]\nrun="r"\nname="n"\nnotebook="x"\n'))
    with pytest.raises(RunConfigError, match=r"unknown fields \['colour'\]"):
        load_run_config(
            _write_toml(
                tmp_path, '[[runs]]\nrun="r"\nname="n"\nnotebook="x"\ndataset="d"\ncolour=1\n'
            )
        )
    with pytest.raises(RunConfigError, match="not valid TOML"):
        load_run_config(_write_toml(tmp_path, "[[runs]\n"))


def test_select_entries(tmp_path):
    entries = load_run_config(config.RUN_CONFIG)
    assert len(select_entries(entries, ["demo"])) == 4
    assert [e.name for e in select_entries(entries, ["demo/ab_experiment"])] == ["ab_experiment"]
    with pytest.raises(RunConfigError, match="no run called"):
        select_entries(entries, ["nightly"])


@pytest.fixture
def dataset(tiny_tables, tmp_path) -> Path:
    write_dataset(tiny_tables, tmp_path / "tiny")
    return tmp_path / "tiny"


def _entry(dataset: Path, **parameters) -> RunEntry:
    notebook = config.NOTEBOOKS_DIR / "01_community_health.ipynb"
    return RunEntry("r", "health", notebook, str(dataset), parameters)


def test_parameters_validated_before_running(dataset):
    params = validate_parameters(_entry(dataset, period="month", include_staff=False))
    assert params == {"dataset": str(dataset), "period": "month", "include_staff": False}
    with pytest.raises(RunConfigError, match=r"unknown parameter 'periode'.*declares"):
        validate_parameters(_entry(dataset, periode="week"))
    with pytest.raises(RunConfigError, match=r"'include_staff' must be bool.*got str 'yes'"):
        validate_parameters(_entry(dataset, include_staff="yes"))
    with pytest.raises(RunConfigError, match=r"'period' must be str.*got int 7"):
        validate_parameters(_entry(dataset, period=7))
    with pytest.raises(RunConfigError, match="dataset 'nope' not found"):
        validate_parameters(_entry(Path("nope")))


def test_int_accepted_for_float_but_bool_not_for_int(dataset):
    notebook = config.NOTEBOOKS_DIR / "03_ab_experiment.ipynb"
    entry = RunEntry("r", "ab", notebook, str(dataset), {"alpha": 1})
    assert validate_parameters(entry)["alpha"] == 1
    notebook = config.NOTEBOOKS_DIR / "02_interaction_network.ipynb"
    with pytest.raises(RunConfigError, match="'top_n' must be int"):
        validate_parameters(RunEntry("r", "n", notebook, str(dataset), {"top_n": True}))


def _executed_notebook(statement: str) -> nbformat.NotebookNode:
    code = new_code_cell("secret_code_marker = 1\nreport.findings(...)")
    code.outputs = [
        new_output(
            "display_data",
            data=Findings("s", [statement], {"x": 1})._repr_mimebundle_(),
        )
    ]
    return new_notebook(cells=[new_markdown_cell("# Title"), code])


def test_export_html_has_no_code_no_cdn_and_escapes(tmp_path):
    hostile = "<script>alert('x')</script> & <img src=x onerror=alert(1)>"
    html = export_html(_executed_notebook(hostile), title="T <b>", footer="<footer>F</footer>")
    assert "secret_code_marker" not in html  # no code cells
    assert "<script src=" not in html and "cdnjs" not in html and "require.js" not in html
    assert "<script>alert" not in html and "&lt;script&gt;alert" in html
    assert "<img src=x" not in html
    assert "<footer>F</footer>" in html
    assert "<title>T &lt;b&gt;</title>" in html


def test_findings_roundtrip_through_notebook():
    nb = _executed_notebook("Members answer each other.")
    found = extract_findings(json.loads(nbformat.writes(nb)))
    assert found == {
        "study": "s",
        "statements": ["Members answer each other."],
        "figures": {"x": 1},
    }
    bundle = findings("s", ["a"], n=3)._repr_mimebundle_()
    assert FINDINGS_MIME in bundle and bundle[FINDINGS_MIME]["figures"] == {"n": 3}


def test_index_lists_reports_with_findings_and_failures(tmp_path):
    run_dir = tmp_path / "r"
    run_dir.mkdir()
    (run_dir / "health.html").write_text("<html></html>")
    (run_dir / "health.json").write_text(json.dumps({"statements": ["<b>Alive</b>"]}))
    (run_dir / "_failed").mkdir()
    (run_dir / "_failed" / "health.ipynb").write_text("{}")
    entry = RunEntry("r", "health", Path("x.ipynb"), "d", {}, title="Health & <co>")
    index = write_index("r", [entry], reports_dir=tmp_path).read_text()
    assert 'href="health.html"' in index
    assert "&lt;b&gt;Alive&lt;/b&gt;" in index and "Health &amp; &lt;co&gt;" in index
    assert "Last run failed" in index
    assert datetime.now(UTC).strftime("%Y-%m-%d") in index


def test_settings_and_entry_timeouts(tmp_path):
    from analysis.runner import RunSettings, load_run_settings

    assert load_run_settings(config.RUN_CONFIG).cell_timeout > 0
    body = '[settings]\ncell_timeout = 42\n[[runs]]\nrun="r"\nname="n"\nnotebook="x"\ndataset="d"\n'
    assert load_run_settings(_write_toml(tmp_path, body)) == RunSettings(cell_timeout=42)
    entry = load_run_config(_write_toml(tmp_path, body + "timeout = 7\n"))[0]
    assert entry.timeout == 7 and not entry.show_names and not entry.show_text
    with pytest.raises(RunConfigError, match=r"cell_timeout must be a positive .* got 0"):
        load_run_settings(_write_toml(tmp_path, "[settings]\ncell_timeout = 0\n"))
    with pytest.raises(RunConfigError, match=r"\[settings\] has unknown fields \['timout'\]"):
        load_run_settings(_write_toml(tmp_path, "[settings]\ntimout = 5\n"))
    with pytest.raises(RunConfigError, match=r"#1: 'timeout' must be a positive .* got 'soon'"):
        load_run_config(_write_toml(tmp_path, body + 'timeout = "soon"\n'))
    with pytest.raises(RunConfigError, match=r"#1: 'show_names' must be true or false, got 1"):
        load_run_config(_write_toml(tmp_path, body + "show_names = 1\n"))


def test_privacy_switches_need_a_notebook_that_declares_them(dataset):
    from dataclasses import replace

    entry = _entry(dataset)
    params = validate_parameters(entry)
    assert "show_names" not in params  # the notebook does not declare it: nothing passed
    with pytest.raises(RunConfigError, match=r"show_names = true, but .* no 'show_names'"):
        validate_parameters(replace(entry, show_names=True))
    with pytest.raises(RunConfigError, match=r"set 'show_text' as the entry's own field"):
        validate_parameters(replace(entry, parameters={"show_text": True}))


def test_privacy_switch_passed_to_a_notebook_that_declares_it(dataset, tmp_path):
    from dataclasses import replace

    notebook = tmp_path / "nb.ipynb"
    cell = new_code_cell('dataset: str = ""\nshow_names: bool = False\nshow_text: bool = False')
    cell.metadata["tags"] = ["parameters"]
    nb = new_notebook(
        cells=[cell],
        metadata={"kernelspec": {"name": "python3", "display_name": "P", "language": "python"}},
    )
    nbformat.write(nb, notebook)
    entry = RunEntry("r", "n", notebook, str(dataset), {})
    assert validate_parameters(entry)["show_names"] is False
    params = validate_parameters(replace(entry, show_names=True))
    assert params["show_names"] is True and params["show_text"] is False


def test_unreadable_notebook_is_a_config_error(dataset, tmp_path):
    notebook = tmp_path / "nb.ipynb"
    cell = new_code_cell("x = 1")
    cell.metadata["tags"] = ["parameters"]
    nbformat.write(new_notebook(cells=[cell]), notebook)  # no kernel or language to parse with
    with pytest.raises(RunConfigError, match=r"nb.ipynb: cannot read its parameters"):
        validate_parameters(RunEntry("r", "n", notebook, str(dataset), {}))


def test_export_html_has_the_title_block_before_the_findings():
    block = '<header class="wb-title"><h1>T</h1></header>'
    html = export_html(
        _executed_notebook("S."), title="T", footer="<footer>F</footer>", title_block=block
    )
    findings_div = html.index('<div class="wb-findings">')
    assert html.index(block) < findings_div < html.index("<footer>F</footer>")
