"""Pretrained weights downloaded the way torchvision and timm do it, proven against a loopback HTTP server.

The registry entry of ``mobilenet_v3_small`` (and timm's pretrained config, through ``pretrained_cfg_overlay``)
is pointed at a file served on 127.0.0.1; everything else is the code ``create_model`` and ``medclass train``
run: the download into a temporary ``$TORCH_HOME`` with torch hub's hash check, the cache hit, the first-conv
adaptation, the weights' normalisation recorded in the checkpoint, and the offline paths.
"""

from __future__ import annotations

import dataclasses
import hashlib
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
import torchvision
import yaml

from medclass.cli.app import run_app
from medclass.inference.checkpoint import read_checkpoint
from medclass.models import create_model, registry
from medclass.models.pretrained import NONE_OFFLINE, hub_checkpoint_path, resolve_pretrained
from medclass.utils.errors import WeightsError

ARCH = "mobilenet_v3_small"
IMAGENET_GREY = (sum((0.485, 0.456, 0.406)) / 3, sum((0.229, 0.224, 0.225)) / 3)
TRAIN_FLAGS = [
    "--model", ARCH, "--image-size", "32", "--epochs", "1", "--batch-size", "16",
    "--set", "trainer.progress_bar=false", "--set", "evaluation.bootstrap=0",
]  # fmt: skip


class WeightsServer:
    """Files of a folder over HTTP on 127.0.0.1 (random port, own thread), counting the requests."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.requests: list[str] = []
        server = self

        class Handler(http.server.SimpleHTTPRequestHandler):
            def __init__(self, *args: object, **kwargs: object) -> None:
                super().__init__(*args, directory=str(root), **kwargs)  # type: ignore[misc, arg-type]

            def send_head(self):  # type: ignore[no-untyped-def]
                server.requests.append(f"{self.command} {self.path}")
                return super().send_head()

            def log_message(self, *args: object) -> None:  # keep the test output quiet
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/{name}"

    def publish(self, state: dict[str, torch.Tensor], stem: str) -> str:
        """Save ``state`` as ``<stem>-<sha256 prefix>.pth`` (torch hub's checked name); its URL."""
        tmp = self.root / f"{stem}.tmp"
        torch.save(state, tmp)
        digest = hashlib.sha256(tmp.read_bytes()).hexdigest()[:8]
        name = f"{stem}-{digest}.pth"
        tmp.rename(self.root / name)
        return self.url(name)


@pytest.fixture
def online(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Leave the suite's offline mode; an empty torch hub cache; loopback reached without a proxy."""
    import huggingface_hub.constants as hf_constants

    monkeypatch.delenv("MEDCLASS_OFFLINE", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(hf_constants, "HF_HUB_OFFLINE", False)
    for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
    return tmp_path / "torch-home" / "hub" / "checkpoints"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[WeightsServer]:
    root = tmp_path / "served"
    root.mkdir()
    served = WeightsServer(root)
    served.thread.start()
    try:
        yield served
    finally:
        served.httpd.shutdown()
        served.httpd.server_close()


@pytest.fixture
def published(server: WeightsServer, monkeypatch: pytest.MonkeyPatch) -> tuple[str, dict[str, torch.Tensor]]:
    """Random ImageNet-shaped mobilenet_v3_small weights served on loopback; the registry points at them."""
    torch.manual_seed(7)
    state = torchvision.models.mobilenet_v3_small(weights=None).state_dict()
    url = server.publish(state, ARCH)
    entry = registry.get_entry(ARCH)
    monkeypatch.setitem(registry._REGISTRY, ARCH, dataclasses.replace(entry, pretrained_url=url))
    return url, state


def test_auto_downloads_into_torch_hub_then_hits_the_cache(
    online: Path, server: WeightsServer, published: tuple[str, dict[str, torch.Tensor]]
) -> None:
    url, state = published
    model = create_model(ARCH, num_classes=3, in_chans=1, pretrained="auto")
    cached = online / url.rsplit("/", 1)[1]
    assert cached.is_file() and hub_checkpoint_path(url) == cached
    assert [r for r in server.requests if r.startswith("GET")] == [f"GET /{cached.name}"]
    # The served weights, the RGB first conv summed for one grey channel, a new head for 3 classes.
    conv = "features.0.0.weight"
    torch.testing.assert_close(model.state_dict()[conv], state[conv].sum(dim=1, keepdim=True))
    assert torch.equal(
        model.state_dict()["features.3.block.0.0.weight"], state["features.3.block.0.0.weight"]
    )
    assert model.classifier[-1].weight.shape[0] == 3
    # Cache hit: the same weights again without a single request, for auto and true alike.
    before = len(server.requests)
    again = create_model(ARCH, num_classes=3, in_chans=1, pretrained=True)
    assert len(server.requests) == before
    assert torch.equal(again.state_dict()[conv], model.state_dict()[conv])
    weights = resolve_pretrained(ARCH, "auto")
    assert (weights.source, weights.file, weights.downloaded) == ("torchvision IMAGENET1K_V1", cached, False)
    assert weights.stats(1) == ([pytest.approx(IMAGENET_GREY[0])], [pytest.approx(IMAGENET_GREY[1])])


def test_false_never_asks_and_a_bad_hash_is_refused(
    online: Path, server: WeightsServer, published: tuple[str, dict[str, torch.Tensor]], tmp_path: Path
) -> None:
    create_model(ARCH, num_classes=2, pretrained=False)
    assert server.requests == []
    url, _ = published
    name = url.rsplit("/", 1)[1]
    bad = name.replace(ARCH + "-", ARCH + "-0")  # another hash prefix in the name: torch hub refuses the file
    (server.root / name).rename(server.root / bad)
    entry = registry.get_entry(ARCH)
    registry._REGISTRY[ARCH] = dataclasses.replace(entry, pretrained_url=server.url(bad))
    with pytest.raises(WeightsError, match="invalid hash value"):
        create_model(ARCH, num_classes=2, pretrained="auto")
    assert not (online / bad).exists()


def test_unreachable_server_is_offline_for_auto(
    online: Path, server: WeightsServer, published: tuple[str, dict[str, torch.Tensor]]
) -> None:
    url, _ = published
    server.httpd.shutdown()
    server.httpd.server_close()  # connection refused, as without network
    weights = resolve_pretrained(ARCH, "auto")
    assert weights.source == NONE_OFFLINE and weights.file is None
    assert "model.pretrained=true" in weights.warning and url in weights.warning
    with pytest.raises(WeightsError, match="cannot be fetched"):
        resolve_pretrained(ARCH, True)


def test_timm_url_weights_through_torch_hub_and_timm_loader(online: Path, server: WeightsServer) -> None:
    import timm

    torch.manual_seed(3)
    source = timm.create_model("test_resnet", num_classes=1000, in_chans=3)
    url = server.publish(source.state_dict(), "test_resnet")
    overlay = {"url": url, "hf_hub_id": None}
    model = create_model(
        "timm:test_resnet", num_classes=2, in_chans=1, pretrained="auto", pretrained_cfg_overlay=overlay
    )
    assert (online / url.rsplit("/", 1)[1]).is_file() and len(server.requests) >= 1
    torch.testing.assert_close(model.conv1[0].weight, source.conv1[0].weight.sum(dim=1, keepdim=True))
    weights = resolve_pretrained("timm:test_resnet", True, {"pretrained_cfg_overlay": overlay})
    assert weights.source == "timm test_resnet.r160_in1k" and not weights.downloaded
    assert weights.stats(3) == ([0.5, 0.5, 0.5], [0.5, 0.5, 0.5])  # timm's pretrained config, not ImageNet's


def test_train_downloads_freezes_and_records_the_weights_normalisation(
    online: Path,
    server: WeightsServer,
    published: tuple[str, dict[str, torch.Tensor]],
    phantom_data: Path,
    tmp_path: Path,
) -> None:
    _, state = published
    out = tmp_path / "run"
    flags = ["--set", "model.freeze=backbone", "--set", "evaluation.report=false"]
    assert run_app(["train", "--data", str(phantom_data), "--out", str(out), *TRAIN_FLAGS, *flags]) == 0
    assert len([r for r in server.requests if r.startswith("GET")]) == 1
    config = yaml.safe_load((out / "config.yaml").read_text())
    assert config["model"]["pretrained"] == "auto"
    assert config["model"]["pretrained_source"] == "torchvision IMAGENET1K_V1"
    meta = read_checkpoint(out / "checkpoints" / "best.ckpt")["medclass"]
    assert meta["preprocess"]["normalization"] == "weights (torchvision IMAGENET1K_V1)"
    assert meta["preprocess"]["mean"] == [pytest.approx(IMAGENET_GREY[0])]
    assert meta["preprocess"]["std"] == [pytest.approx(IMAGENET_GREY[1])]
    weights = read_checkpoint(out / "checkpoints" / "best.ckpt")["state_dict"]
    conv = weights["model.features.0.0.weight"]
    torch.testing.assert_close(conv, state["features.0.0.weight"].sum(dim=1, keepdim=True))  # frozen


def test_offline_auto_trains_from_scratch_and_says_so_everywhere(
    phantom_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from medclass.reporting.model_card import model_card

    out = tmp_path / "run"
    assert run_app(["train", "--data", str(phantom_data), "--out", str(out), "--offline", *TRAIN_FLAGS]) == 0
    printed = capsys.readouterr()
    warnings = [
        line for line in (printed.out + printed.err).splitlines() if "pretrained weights NOT used" in line
    ]
    assert len(warnings) == 1 and "--set model.pretrained=true" in warnings[0]
    config = yaml.safe_load((out / "config.yaml").read_text())
    assert config["model"]["pretrained_source"] == NONE_OFFLINE
    meta = read_checkpoint(out / "checkpoints" / "best.ckpt")["medclass"]
    assert meta["config"]["model"]["pretrained_source"] == NONE_OFFLINE
    assert meta["preprocess"]["normalization"] == "dataset"
    assert "none (offline)" in (out / "report.html").read_text()
    assert model_card(out)["pretrained"] == NONE_OFFLINE


def test_offline_true_exits_2_naming_the_cache_path_and_url(
    phantom_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    args = ["train", "--data", str(phantom_data), "--out", str(out), "--set", "model.pretrained=true"]
    assert run_app([*args, *TRAIN_FLAGS]) == 2
    err = capsys.readouterr().err.strip()
    url = registry.get_entry(ARCH).pretrained_url
    assert url and url in err and str(hub_checkpoint_path(url)) in err and "offline" in err
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert not out.exists()


class HubServer(http.server.BaseHTTPRequestHandler):
    """The two requests ``hf_hub_download`` makes for a file (HEAD for its commit and ETag, then GET), from
    ``self.server.files``: ``{"/<repo>/resolve/main/<file>": bytes}``."""

    def _head(self) -> bytes | None:
        self.server.requests.append(f"{self.command} {self.path}")  # type: ignore[attr-defined]
        body = self.server.files.get(self.path)  # type: ignore[attr-defined]
        if body is None:
            self.send_response(404)
            self.send_header("X-Error-Code", "EntryNotFound")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return None
        self.send_response(200)
        self.send_header("X-Repo-Commit", "a" * 40)
        self.send_header("ETag", f'"{hashlib.sha256(body).hexdigest()}"')
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        return body

    def do_HEAD(self) -> None:
        self._head()

    def do_GET(self) -> None:
        body = self._head()
        if body is not None:
            self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def test_timm_hub_weights_through_hf_hub_download_then_the_cache(
    online: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import huggingface_hub.constants as hf_constants
    import timm
    from safetensors.torch import save_file

    torch.manual_seed(4)
    source = timm.create_model("test_resnet", num_classes=1000)
    file = tmp_path / "model.safetensors"
    save_file({k: v.contiguous() for k, v in source.state_dict().items()}, str(file))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), HubServer)
    httpd.files = {"/timm/test_resnet.r160_in1k/resolve/main/model.safetensors": file.read_bytes()}  # type: ignore[attr-defined]
    httpd.requests = []  # type: ignore[attr-defined]
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    endpoint = f"http://127.0.0.1:{httpd.server_address[1]}"
    monkeypatch.setattr(hf_constants, "HF_HUB_CACHE", str(tmp_path / "hf-hub"))
    monkeypatch.setattr(hf_constants, "ENDPOINT", endpoint)
    monkeypatch.setattr(
        hf_constants, "HUGGINGFACE_CO_URL_TEMPLATE", endpoint + "/{repo_id}/resolve/{revision}/{filename}"
    )
    try:
        model = create_model("timm:test_resnet", num_classes=2, in_chans=1, pretrained="auto")
        fetched = [r for r in httpd.requests if "/resolve/" in r]  # type: ignore[attr-defined]
        assert fetched[-1] == "GET /timm/test_resnet.r160_in1k/resolve/main/model.safetensors"
        torch.testing.assert_close(model.conv1[0].weight, source.conv1[0].weight.sum(dim=1, keepdim=True))
        before = len(httpd.requests)  # type: ignore[attr-defined]
        weights = resolve_pretrained("timm:test_resnet", True)
        assert len(httpd.requests) == before  # type: ignore[attr-defined]
        assert weights.file is not None and (tmp_path / "hf-hub") in weights.file.parents
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_http_error_is_a_failed_download_not_offline(
    online: Path, server: WeightsServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    entry = registry.get_entry(ARCH)
    monkeypatch.setitem(
        registry._REGISTRY, ARCH, dataclasses.replace(entry, pretrained_url=server.url("gone-12345678.pth"))
    )
    weights = resolve_pretrained(ARCH, "auto")
    assert weights.source == "none (download failed)" and "404" in weights.warning
    with pytest.raises(WeightsError, match="404"):
        resolve_pretrained(ARCH, True)


def test_a_run_follows_what_it_recorded(
    online: Path, server: WeightsServer, published: tuple[str, dict[str, torch.Tensor]]
) -> None:
    from medclass.config import build_config
    from medclass.training.setup import run_normalization, run_pretrained

    # Recorded "none (offline)" (a resumed run): no weights and no request, though the network is back.
    resumed = build_config({}, [f"model.name={ARCH}", f"model.pretrained_source={NONE_OFFLINE}"])
    assert run_pretrained(resumed).file is None and server.requests == []
    assert run_normalization(resumed) == (None, None)
    recorded = build_config({}, [f"model.name={ARCH}", "model.pretrained_source=torchvision IMAGENET1K_V1"])
    assert run_normalization(recorded) == (
        [pytest.approx(IMAGENET_GREY[0])],
        [pytest.approx(IMAGENET_GREY[1])],
    )
    forced = build_config(
        {},
        [f"model.name={ARCH}", "model.pretrained_source=torchvision IMAGENET1K_V1", "data.normalize=dataset"],
    )
    assert run_normalization(forced) == (None, None)
    assert run_pretrained(recorded).file is not None  # weights required: fetched


def test_a_new_run_resolves_again_a_resumed_one_follows_its_record(
    online: Path, server: WeightsServer, published: tuple[str, dict[str, torch.Tensor]]
) -> None:
    from rich.console import Console

    from medclass.config import build_config
    from medclass.training.setup import start_weights

    copied = build_config({}, [f"model.name={ARCH}", f"model.pretrained_source={NONE_OFFLINE}"])
    quiet = Console(quiet=True)
    assert start_weights(copied, quiet, resume=True).model.pretrained_source == NONE_OFFLINE
    assert server.requests == []
    assert start_weights(copied, quiet).model.pretrained_source == "torchvision IMAGENET1K_V1"
    assert len([r for r in server.requests if r.startswith("GET")]) == 1
