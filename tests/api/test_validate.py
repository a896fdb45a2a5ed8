"""``medclass validate`` end to end on a tiny run: two external sites, one like the training data and one with
inverted intensities that must be reported as breaking; subgroups; bad input refused with nothing left behind."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from medclass.cli.app import run_app


@pytest.fixture(scope="module")
def sites(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A phantom site drawn like the training data (another seed), its intensity-inverted copy, and a file that
    maps the external images to a ``scanner`` column (one scanner holds only 4 images)."""
    from medclass.data.synthetic import make_phantom_dataset

    root = tmp_path_factory.mktemp("sites")
    same = make_phantom_dataset(root / "same", n_per_class=20, size=64, seed=7)
    inverted = root / "inverted"
    for path in sorted(same.rglob("*.png")):
        target = inverted / path.relative_to(same)
        target.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(255 - np.asarray(Image.open(path))).save(target)
    groups = root / "scanners.csv"
    images = sorted(same.rglob("*.png")) + sorted(inverted.rglob("*.png"))
    with open(groups, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["path", "scanner"])
        for i, path in enumerate(images):
            writer.writerow([path, "C" if i < 4 else "AB"[i % 2]])
    return {"same": same, "inverted": inverted, "groups": groups}


@pytest.fixture(scope="module")
def run_copy(trained_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the shared trained run, so that validate's default folder does not change the shared one."""
    return Path(shutil.copytree(trained_run, tmp_path_factory.mktemp("validate") / "run"))


def test_validate_reports_the_inverted_site_as_breaking(
    run_copy: Path, sites: dict[str, Path], phantom_data: Path, capsys
) -> None:
    args = ["validate", str(run_copy), "--external", f"same={sites['same']}"]
    args += [
        "--external",
        f"inverted={sites['inverted']}",
        "--subgroups",
        "site",
        "--subgroups",
        str(sites["groups"]),
    ]
    assert run_app(args) == 0
    out = capsys.readouterr().out
    folder = run_copy / "validation"
    result = json.loads((folder / "validation.json").read_text())

    # The frozen model: the internal site is the run's own test evaluation, decision for decision.
    test_metrics = json.loads((run_copy / "test_metrics.json").read_text())
    internal = result["external"]["internal"]
    assert internal["n"] == test_metrics["n"]
    assert internal["metrics"]["accuracy"]["value"] == pytest.approx(test_metrics["accuracy"])
    assert set(result["external"]) == {"internal", "same", "inverted"}
    for site in result["external"].values():
        assert site["metrics"]["accuracy"]["ci_low"] is not None
        assert {"ece", "slope", "intercept", "reliability"} <= set(site["calibration"])
        assert {"sensitivity", "specificity"} <= set(site["operating_point"])

    inverted = result["transfer"]["sites"]["inverted"]
    accuracy = next(f for f in inverted["findings"] if f["measure"] == "accuracy")
    assert inverted["verdict"] == "breaks" and accuracy["verdict"] == "breaks" and accuracy["ci_high"] < 0
    same = next(f for f in result["transfer"]["sites"]["same"]["findings"] if f["measure"] == "accuracy")
    assert same["verdict"] == "transfers" and same["ci_low"] <= 0 <= same["ci_high"]
    assert "inverted: breaks (accuracy" in out

    pooled = result["heterogeneity"]["accuracy"]
    assert (
        pooled["k"] == 3
        and 0 <= pooled["i2"] <= 1
        and pooled["ci_low"] <= pooled["estimate"] <= pooled["ci_high"]
    )

    columns = result["subgroups"]["columns"]
    assert set(columns["site"]["groups"]) == {"internal", "same", "inverted"}
    scanner = columns["scanner"]
    assert scanner["groups"]["C"]["n"] == 4 and scanner["groups"]["C"]["too_small"]
    assert scanner["missing"] == internal["n"]  # the internal images are not in the scanner file
    assert any("scanner = C" in w and "30" in w for w in scanner["warnings"])
    assert columns["site"]["largest_gap"]["worst"] == "inverted"

    curve = result["decision_curve"]["sites"]["internal"]
    assert len(curve["thresholds"]) == 99 and curve["operating_point"]["threshold"] is not None
    assert result["sample_size"]["sites"]["same"]["accuracy"]["n_to_halve"] == 4 * 40
    for name in ("reliability", "forest", "decision_curve"):
        assert (folder / result["figures"][name]).stat().st_size > 5_000
    # The shortcut screens ran on the run's test split, their figures inside the folder.
    assert result["shortcuts"]["data"] == ["internal"]
    for screen in ("metadata", "masked_anatomy", "outside_body"):
        entry = result["shortcuts"][screen]
        assert entry["flagged"] in (True, False, None) and "chance" in entry
        assert entry["figure"] is None or (folder / entry["figure"]).is_file()
    # The checklists: every item the tool fills points at a file that exists.
    assert (folder / "dossier.md").is_file() and (folder / "dossier.html").is_file()
    cited = {s for c in result["checklists"].values() for i in c["items"].values() for s in i["source"] or []}
    assert "figures/participant_flow.png" in cited  # drawn by the dossier before the status is taken
    for checklist in result["checklists"].values():
        for item in checklist["items"].values():
            assert item["filled"] is (item["source"] is not None)
            for source in item["source"] or []:
                assert (folder / source.split("#")[0]).exists(), source
    table = pd.read_csv(folder / "predictions.csv")
    assert len(table) == internal["n"] + 80 and set(table["site"]) == {"internal", "same", "inverted"}
    assert len(pd.read_csv(folder / "decision_curve.csv")) == 3 * 99

    # A second validation never replaces the first; a "site" holding the training images is called out.
    seen = ["validate", str(run_copy), "--external", f"seen={phantom_data}", "--no-shortcuts"]
    assert run_app(seen) == 0
    second = json.loads((run_copy / "validation-2" / "validation.json").read_text())
    assert (folder / "validation.json").is_file() and second["shortcuts"] is None
    assert any(w.startswith("seen: ") and "not external evidence" in w for w in second["warnings"])


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("malformed", "expected NAME=DATA"),
        ("missing-data", "no such folder or file"),
        ("reserved", "'internal' names the run's own test split"),
        ("unknown-class", "are not classes of the model"),
        ("missing-column", "--subgroups sex: no such column"),
        ("not-a-run", "not a medclass run folder"),
        ("unreadable", "is readable"),  # fails after the folder is claimed: the folder goes again
    ],
)
def test_validate_refuses_bad_input_and_leaves_nothing(
    case: str, expected: str, trained_run: Path, sites: dict[str, Path], tmp_path: Path, capsys
) -> None:
    other = tmp_path / "other"
    shutil.copytree(sites["same"] / "tumor", other / "tumor")
    shutil.copytree(sites["same"] / "tumor", other / "cyst")
    broken = tmp_path / "broken"
    for label in ("no_tumor", "tumor"):
        (broken / label).mkdir(parents=True)
        (broken / label / "scan.png").write_bytes(b"not a png")
    run = str(trained_run)
    args = {
        "malformed": [run, "--external", "siteB"],
        "missing-data": [run, "--external", f"b={tmp_path / 'absent'}"],
        "reserved": [run, "--external", f"internal={sites['same']}"],
        "unknown-class": [run, "--external", f"b={other}"],
        "missing-column": [run, "--subgroups", "sex"],
        "not-a-run": [str(tmp_path)],
        "unreadable": [run, "--external", f"b={broken}"],
    }[case]
    out = tmp_path / "validation"
    assert run_app(["validate", *args, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert expected in err and "Traceback" not in err
    assert not out.exists() and not (trained_run / "validation").exists()
