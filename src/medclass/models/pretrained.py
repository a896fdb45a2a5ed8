"""Pretrained weights: which an architecture has, fetched into the libraries' own caches, and what was used.

``model.pretrained`` (``create_model(pretrained=...)``) is one of

- ``"auto"`` (the config's default): the architecture's published weights when it has some (a torchvision entry
  of the registry, a timm model with a pretrained config); none published (``cnn``): random init, silently.
  Offline, or the download fails for lack of network: random init, with one warning that says so and how to
  make it an error (``model.pretrained=true``); the run records ``pretrained: none (offline)``.
- ``True``: the weights are required; not cached and not downloadable is a :class:`WeightsError` naming the
  cache path and the URL.
- ``False``: random init; the network is never touched.

The files live where torchvision and timm keep them, so a file fetched by either library is found, and the
other way round:

- a URL (torchvision, and timm models without a hub id): ``torch.hub.get_dir()/checkpoints/<file name>``
  (``$TORCH_HOME``), fetched with ``torch.hub.download_url_to_file`` and the hash check of
  ``torch.hub.load_state_dict_from_url`` (the hex digits after the last ``-`` of the file name);
- a Hugging Face hub id (most timm weights): the hub cache (``$HF_HOME``, ``$HF_HUB_CACHE``), fetched with
  ``huggingface_hub.hf_hub_download``.

A cached file is used without any request. Offline is :func:`medclass.utils.offline.is_offline`
(``HF_HUB_OFFLINE``, ``MEDCLASS_OFFLINE``, ``medclass train --offline``).

:func:`resolve_pretrained` returns :class:`PretrainedWeights`: the file, the label a run records
(``torchvision IMAGENET1K_V1``, ``timm resnet18.a1_in1k``, ``none (offline)``) and the weights' normalisation,
which a run with ``data.normalize: auto`` uses (as timm's ``resolve_data_config`` does).
"""

from __future__ import annotations

import http.client
import logging
import os
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal
from urllib.error import HTTPError
from urllib.parse import urlparse

import torch

from medclass.models.registry import TIMM_PREFIX, get_entry
from medclass.utils.errors import WeightsError
from medclass.utils.offline import is_offline

log = logging.getLogger(__name__)

Setting = bool | Literal["auto"]
NONE = "none"
NONE_OFFLINE = "none (offline)"
NONE_FAILED = "none (download failed)"
# What a failed download raises when the network is missing: DNS, refused or reset connections, timeouts
# (urllib's URLError and huggingface_hub's offline errors are OSErrors too).
NETWORK_ERRORS = (OSError, http.client.HTTPException)


@dataclass(frozen=True)
class PretrainedWeights:
    """The starting weights a model gets.

    Attributes:
        source: what a run records: ``torchvision IMAGENET1K_V1``, ``timm resnet18.a1_in1k``, ``none``,
            ``none (offline)``.
        file: the local weights file (None: random init).
        mean, std: the weights' RGB normalisation (empty without weights).
        warning: the one line to show when ``auto`` fell back to random init (else empty).
        downloaded: the file was fetched now (not a cache hit).
    """

    source: str = NONE
    file: Path | None = None
    mean: tuple[float, ...] = ()
    std: tuple[float, ...] = ()
    warning: str = ""
    downloaded: bool = False

    @property
    def loaded(self) -> bool:
        """Whether the model starts from these weights."""
        return self.file is not None

    def stats(self, channels: int) -> tuple[list[float], list[float]] | None:
        """The weights' mean/std for ``channels`` inputs (one grey channel: the mean of R, G, B, as the first
        conv is their sum); None without statistics (no weights)."""
        if not self.mean or not self.std:
            return None
        if channels == 1:
            return [sum(self.mean) / len(self.mean)], [sum(self.std) / len(self.std)]
        return list(self.mean), list(self.std)


@dataclass(frozen=True)
class PublishedWeights:
    """Where an architecture's weights are published: a URL (torch hub cache), a Hugging Face repo, or a
    local file named in timm's ``pretrained_cfg_overlay``."""

    name: str
    label: str
    url: str | None = None
    hf_hub_id: str | None = None
    hf_filenames: tuple[str, ...] = ("model.safetensors", "pytorch_model.bin")
    file: str | None = None
    mean: tuple[float, ...] = ()
    std: tuple[float, ...] = ()

    def cached(self) -> Path | None:
        """The file if it is already local (no request)."""
        if self.file:
            return Path(self.file) if Path(self.file).is_file() else None
        if self.hf_hub_id:
            found = _hf_cached_file(self.hf_hub_id, self.hf_filenames)
            if found is not None:
                return found
        if self.url and hub_checkpoint_path(self.url).is_file():
            return hub_checkpoint_path(self.url)
        return None

    def where(self) -> str:
        """The cache path(s) and source(s), for messages."""
        places = []
        if self.file:
            places.append(f"{self.file} (model.kwargs.pretrained_cfg_overlay.file)")
        if self.hf_hub_id:
            repo = self.hf_hub_id.partition("@")[0]
            places.append(f"{hf_cache_folder(repo)} (from https://huggingface.co/{repo})")
        if self.url:
            places.append(f"{hub_checkpoint_path(self.url)} (from {self.url})")
        return " or ".join(places)

    def download(self) -> Path:
        """Fetch the file into its cache with the library's own function.

        Raises:
            OSError, http.client.HTTPException: the network failed (offline, unreachable, HTTP error).
            WeightsError: a file without a source, or a download whose hash does not match its name.
        """
        if self.hf_hub_id:
            return _hf_download(self.hf_hub_id, self.hf_filenames)
        if self.url:
            return download_url(self.url)
        raise WeightsError(f"pretrained weights of {self.name}: file {self.file} not found")


def hub_checkpoint_path(url: str) -> Path:
    """Where torch hub keeps the file downloaded from ``url``: ``torch.hub.get_dir()/checkpoints/<name>``."""
    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(urlparse(url).path)


def hf_cache_folder(repo: str) -> Path:
    """The Hugging Face hub cache folder of a model repo."""
    from huggingface_hub import constants

    return Path(constants.HF_HUB_CACHE) / f"models--{repo.replace('/', '--')}"


def download_url(url: str) -> Path:
    """Download ``url`` into the torch hub cache as ``torch.hub.load_state_dict_from_url`` does (same path, same
    hash check of the digits after the last ``-`` of the file name), without loading it."""
    path = hub_checkpoint_path(url)
    path.parent.mkdir(parents=True, exist_ok=True)
    match = torch.hub.HASH_REGEX.search(path.name)
    log.info("downloading %s to %s", url, path)
    try:
        torch.hub.download_url_to_file(url, str(path), match.group(1) if match else None, sys.stderr.isatty())
    except RuntimeError as exc:  # torch hub's hash mismatch; the partial file is removed by torch
        raise WeightsError(f"pretrained weights from {url}: {exc}") from None
    return path


def _hf_cached_file(repo_id: str, filenames: tuple[str, ...]) -> Path | None:
    """A file of a Hugging Face repo already in the local hub cache (no network)."""
    from huggingface_hub import try_to_load_from_cache

    repo_id, _, revision = repo_id.partition("@")
    for filename in filenames:
        found = try_to_load_from_cache(repo_id, filename, revision=revision or None)
        if isinstance(found, str) and Path(found).is_file():
            return Path(found)
    return None


def _hf_download(repo_id: str, filenames: tuple[str, ...]) -> Path:
    """The first of ``filenames`` the repo has, fetched into the hub cache (``hf_hub_download``)."""
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import RemoteEntryNotFoundError

    repo_id, _, revision = repo_id.partition("@")
    for filename in filenames[:-1]:
        try:
            return Path(hf_hub_download(repo_id, filename, revision=revision or None))
        except RemoteEntryNotFoundError:  # the repo has the next format instead (timm's order)
            continue
    return Path(hf_hub_download(repo_id, filenames[-1], revision=revision or None))


def published_weights(name: str, kwargs: dict[str, Any] | None = None) -> PublishedWeights | None:
    """Where the weights of model ``name`` are published (None: they are not). No network.

    ``timm:<name>`` reads timm's pretrained config, with ``kwargs["pretrained_cfg_overlay"]`` applied.
    """
    if not name.startswith(TIMM_PREFIX):
        entry = get_entry(name)
        if entry.pretrained_url is None:
            return None
        label = f"torchvision {entry.pretrained_tag}".strip()
        return PublishedWeights(name, label, url=entry.pretrained_url, mean=entry.mean, std=entry.std)
    import timm

    timm_name = name[len(TIMM_PREFIX) :]
    try:
        cfg = timm.models.get_pretrained_cfg(timm_name)
    except Exception:  # timm raises RuntimeError or returns None for unknown tags
        cfg = None
    if cfg is None:
        return None
    overlay = dict((kwargs or {}).get("pretrained_cfg_overlay") or {})
    cfg = replace(cfg, **{k: v for k, v in overlay.items() if hasattr(cfg, k)})
    if not (cfg.file or cfg.hf_hub_id or cfg.url):
        return None
    filenames = (cfg.hf_hub_filename,) if cfg.hf_hub_filename else PublishedWeights.hf_filenames
    tag = f"{cfg.architecture}.{cfg.tag}" if cfg.architecture and cfg.tag else timm_name
    return PublishedWeights(
        name,
        f"timm {tag}",
        url=cfg.url or None,
        hf_hub_id=None if cfg.file else cfg.hf_hub_id or None,
        hf_filenames=filenames,
        file=cfg.file or None,
        mean=tuple(cfg.mean or ()),
        std=tuple(cfg.std or ()),
    )


def resolve_pretrained(
    name: str, setting: Setting, kwargs: dict[str, Any] | None = None
) -> PretrainedWeights:
    """The starting weights of model ``name`` for ``model.pretrained = setting``, downloaded if need be.

    Args:
        name: a registry name or ``timm:<name>``.
        setting: ``"auto"``, ``True`` or ``False`` (see the module docstring).
        kwargs: the model's constructor arguments (for timm's ``pretrained_cfg_overlay``).

    Returns:
        :class:`PretrainedWeights` (``file`` None: random init; ``warning`` set when ``auto`` fell back).

    Raises:
        WeightsError: ``True`` for an architecture without published weights, or weights neither cached nor
            downloadable (naming the cache path and the URL).
    """
    if setting is False:
        return PretrainedWeights(NONE)
    published = published_weights(name, kwargs)
    if published is None:
        if setting == "auto":
            return PretrainedWeights(NONE)
        raise WeightsError(
            f"model.pretrained = true: model {name!r} has no published weights; use model.pretrained=auto or "
            "false (random init), or model.weights=PATH"
        )
    found = published.cached()
    downloaded = offline = False
    if found is None:
        offline = is_offline()
        reason = "offline" if offline else ""
        if not offline:
            try:
                found, downloaded = published.download(), True
            except NETWORK_ERRORS as exc:
                reason = f"download failed: {exc}"
                # A server's answer (404, 403 ...) is not a missing network.
                offline = not isinstance(exc, HTTPError | http.client.HTTPException) and not _hf_http(exc)
        if found is None:
            return _unavailable(published, setting, reason, offline)
    return PretrainedWeights(published.label, found, published.mean, published.std, "", downloaded)


def _hf_http(exc: BaseException) -> bool:
    """A Hugging Face hub HTTP answer (not a connection failure)."""
    from huggingface_hub.errors import HfHubHTTPError

    return isinstance(exc, HfHubHTTPError) and getattr(exc, "response", None) is not None


def _unavailable(
    published: PublishedWeights, setting: Setting, reason: str, offline: bool
) -> PretrainedWeights:
    """``auto``: random init and the one warning line; ``True``: the error naming the cache and the URL."""
    where = published.where()
    if setting is True:
        raise WeightsError(
            f"model.pretrained = true: the {published.label} weights of {published.name} are not in the cache "
            f"and cannot be fetched ({reason}). Looked in {where}: run once with network (or copy that file or "
            "cache from a machine that has it), pass model.weights=PATH, or use model.pretrained=auto to train "
            "from scratch"
        )
    return PretrainedWeights(
        NONE_OFFLINE if offline else NONE_FAILED,
        warning=(
            f"pretrained weights NOT used ({reason}): {published.name} trains from scratch; they are fetched "
            f"into {where} when there is network. To make this an error: --set model.pretrained=true"
        ),
    )
