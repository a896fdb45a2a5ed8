"""``medclass profile`` is a call of :func:`medclass.api.profile.profile`, which a notebook can make too."""

from __future__ import annotations

from pathlib import Path

from medclass.api.profile import profile
from medclass.cli.app import run_app
from medclass.utils.io import read_json


def test_the_api_profiles_a_config_and_writes_the_json(tmp_path: Path) -> None:
    config = tmp_path / "cnn.yaml"
    config.write_text(
        "model: {name: cnn, cnn: {blocks: [{out_channels: 4}], dense: [8]}}\ndata: {channels: 3}\n"
    )
    out = tmp_path / "reports" / "profile.json"
    report = profile(config, image_size=16, num_classes=3, batch_sizes=(2,), repeats=1, json_out=out)
    assert read_json(out) == report
    assert (report["model"], report["image_size"], report["in_chans"], report["num_classes"]) == (
        "cnn",
        16,
        3,
        3,
    )
    assert [lat["batch_size"] for lat in report["latency"]] == [2]
    # The first convolution has the config's 4 filters (the default CNN has 16), and --set reaches the model.
    assert report["layers"][0]["output_shape"][0] == 4
    assert (
        profile(config, overrides=["model.cnn.blocks=[{out_channels: 6}]"], batch_sizes=())["layers"][0][
            "output_shape"
        ][0]
        == 6
    )


def test_a_folder_as_json_exits_2_before_any_model_is_built(tmp_path: Path, capsys) -> None:
    assert run_app(["profile", "--model", "cnn", "--no-latency", "--json", str(tmp_path)]) == 2
    assert "--json" in capsys.readouterr().err


def test_a_bad_device_exits_2_naming_it(capsys) -> None:
    assert run_app(["profile", "--model", "cnn", "--image-size", "16", "--device", "gpu7"]) == 2
    assert "--device 'gpu7'" in capsys.readouterr().err
