"""The two presets against the method description's table (tests/data/method_presets.md, copied from METHOD.md)."""
import dataclasses, re
from pathlib import Path
import pytest
from gridablate.method import Method, PRESETS
from gridablate.record import Study

METHOD = Path(__file__).resolve().parent / "data" / "method_presets.md"

@pytest.fixture(scope="module")
def table():
    rows = {}
    for line in METHOD.read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("|") and len(cells) == 3 and not set(cells[0]) <= set("-"): rows[cells[0]] = cells[1:]
    return rows

def test_table_rows_are_the_options(table):
    assert {"unit", "comparison classes (y axis)", "rank", "rank deficit per image", "probe"} <= set(table)

def test_paper_preset_is_the_authors_column(table):
    m = Study(preset="paper").method
    unit, comp = table["unit"][1], table["comparison classes (y axis)"][1]
    assert m.unit == "neuron" and "every activation" in unit and "elementwise" in unit
    assert m.n_others == int(re.search(r"(\d+) other classes drawn at random", comp).group(1))
    assert m.rank == "paper" and "sorted softmax" in table["rank"][1]
    assert m.deficit == "clipped" and "max(0, rank after − rank before)" in table["rank deficit per image"][1]
    probe = table["probe"][1]
    n, k = re.search(r"(\d+) random subsets of min\((\d+), cell size\)", probe).groups()
    assert m.probe == "paper" and (m.probe_subsets, m.probe_units) == (int(n), int(k))
    assert "LogisticRegression()" in probe and "exp(−mean loss)" in probe and "fitted on" in probe
    assert m.crossfit is False

def test_gridablate_preset_is_the_left_column(table):
    m = Study().method
    assert m.unit == "channel" and "spatial mean" in table["unit"][0]
    assert m.n_others == "all" and table["comparison classes (y axis)"][0] == "all other classes of the study"
    assert m.rank == "tie_aware" and "tie-aware" in table["rank"][0]
    assert m.deficit == "signed" and "(signed)" in table["rank deficit per image"][0]
    assert m.probe == "heldout" and "held-out" in table["probe"][0] and "5-fold" in table["probe"][0]
    assert m.crossfit is True and "cross-fitting" in METHOD.read_text()

def test_presets_cover_every_method_option():
    "Each preset sets every choice of the method (the fields of `Method` without a default; the grid's shape, axes and "
    "folds come from the study), each of them an option a study can override."
    every = {f.name for f in dataclasses.fields(Method)}
    options = {f.name for f in dataclasses.fields(Method) if f.default is dataclasses.MISSING}
    assert set(PRESETS) == {"gridablate", "paper"} and every <= {f.name for f in dataclasses.fields(Study)}
    assert every - options == {"rows", "cols", "folds", "axes"}
    for p in PRESETS.values(): assert set(p) == options, set(p) ^ options
    assert set(Method.of().choices()) == options
