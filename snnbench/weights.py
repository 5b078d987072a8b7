"""Model weights: find them (local checkpoint, bundled file, Hugging Face hub), verify them, load them strictly.

Weights are ``.safetensors`` only, so a downloaded file is parsed as tensors and never unpickled. The bytes
that are hashed are the bytes that are parsed: a file that changes between the check and the load cannot
slip through. A card pins a hub commit, so the same name always gives the same bytes.
"""
from __future__ import annotations

import hashlib
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from safetensors import SafetensorError
from safetensors.torch import load as load_safetensors
import torch
from torch import Tensor, nn

from .cards import HubFile, ModelCard
from .datasets import PathLike


class WeightsError(RuntimeError):
    """Weights could not be found, verified or loaded."""


class WeightsUnavailableError(WeightsError):
    """No copy of the weights can be reached (missing file, or offline with nothing cached)."""


class WeightsIntegrityError(WeightsError):
    """The weights' sha256 differs from the one the card records; they are refused."""


class WeightsFormatError(WeightsError):
    """The file is not a safetensors file."""


class WeightsMismatchError(WeightsError):
    """The weights do not fit the architecture the card describes."""


@dataclass(frozen=True)
class WeightsFile:
    """A located weights file. ``expected_sha256`` is None for a user's override, which is recorded, not checked."""

    path: Path
    source: str  # "checkpoint", "file" or "hub"
    location: str  # for messages and results: a path or hf://repo@revision/filename
    expected_sha256: Optional[str]


@dataclass(frozen=True)
class Provenance:
    """Where a loaded model's weights came from; ``matches_card`` is False for a user's own checkpoint."""

    card: str
    source: str
    location: str
    sha256: str
    matches_card: bool
    card_path: Optional[Path] = None  # the card file the model was built from (None: a card made in memory)


def locate_weights(card: ModelCard, *, checkpoint: Optional[PathLike] = None, revision: Optional[str] = None,
                   cache_dir: Optional[PathLike] = None) -> WeightsFile:
    """The weights to load: ``checkpoint`` if given, else the card's bundled file, else its hub file."""
    if checkpoint is not None:
        path = Path(checkpoint).expanduser()
        if not path.is_file():
            raise WeightsUnavailableError(f"checkpoint {path} does not exist")
        return WeightsFile(path, "checkpoint", str(path), None)
    bundled = card.bundled_weights()
    if bundled is not None and bundled.is_file() and revision is None:
        return WeightsFile(bundled, "file", str(bundled), card.weights.sha256)
    if card.weights.hub is None:
        if revision is not None:
            raise WeightsUnavailableError(f"{card.source}: revision={revision!r} asks for a hub copy, but the card "
                                          f"names none (field 'weights.hub'); its weights are the bundled file")
        raise WeightsUnavailableError(
            f"{card.source}: the weights file {bundled} does not exist and the card names no hub copy "
            f"(field 'weights.file')")
    hub = card.weights.hub
    pinned = revision is None or revision == hub.revision
    path = download_from_hub(hub, revision or hub.revision, cache_dir)
    return WeightsFile(path, "hub", hub_location(hub, revision or hub.revision),
                       card.weights.sha256 if pinned else None)


def hub_location(hub: HubFile, revision: str) -> str:
    return f"hf://{hub.repo_id}@{revision}/{hub.filename}"


def download_from_hub(hub: HubFile, revision: str, cache_dir: Optional[PathLike] = None) -> Path:
    """The hub file through ``hf_hub_download`` (its cache, ``HF_HOME``, ``HF_ENDPOINT``, ``HF_HUB_OFFLINE``)."""
    from huggingface_hub import constants, hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError, HfHubHTTPError, LocalEntryNotFoundError

    location = hub_location(hub, revision)
    try:
        return Path(hf_hub_download(hub.repo_id, hub.filename, revision=revision,
                                    cache_dir=None if cache_dir is None else str(cache_dir)))
    except LocalEntryNotFoundError:
        cache = cache_dir or constants.HF_HUB_CACHE
        why = "HF_HUB_OFFLINE is set" if constants.HF_HUB_OFFLINE else f"{constants.ENDPOINT} cannot be reached"
        into = "" if cache_dir is None else f" --cache-dir {cache_dir}"
        raise WeightsUnavailableError(
            f"{location} is not in the cache {cache} and {why}. Fetch it once with network access "
            f"(`hf download {hub.repo_id} {hub.filename} --revision {revision}{into}`, or any load_model call), "
            f"or pass a local copy with load_model(..., checkpoint=PATH) (snnbench evaluate --checkpoint).") from None
    except (EntryNotFoundError, HfHubHTTPError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise WeightsUnavailableError(f"{location}: the hub refused the download: {first}") from None


def read_weights(file: WeightsFile) -> tuple[dict[str, Tensor], str]:
    """The file's tensors and sha256, after checking the sha256 against the expected one (if any)."""
    data = file.path.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if file.expected_sha256 is not None and digest != file.expected_sha256:
        raise WeightsIntegrityError(
            f"{file.location} ({os.path.realpath(file.path)}): sha256 {digest} differs from the card's "
            f"{file.expected_sha256}; the weights are refused. Either the file is corrupted (delete it and "
            f"load again) or the card records the wrong hash.")
    try:
        return load_safetensors(data), digest
    except (SafetensorError, ValueError) as err:
        raise WeightsFormatError(f"{file.location}: not a safetensors file ({err}); snnbench loads weights "
                                 f"only from .safetensors and never unpickles a file") from None


def load_state_strict(model: nn.Module, state: dict[str, Tensor], location: str) -> None:
    """Load ``state`` into ``model``, naming every missing, unexpected or mis-shaped tensor on failure."""
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    shared = sorted(set(expected) & set(state))
    shapes = [f"{k}: model {tuple(expected[k].shape)}, weights {tuple(state[k].shape)}"
              for k in shared if expected[k].shape != state[k].shape]
    dtypes = [f"{k}: model {expected[k].dtype}, weights {state[k].dtype}"
              for k in shared if expected[k].dtype != state[k].dtype]  # never cast silently
    nonfinite = [k for k in shared if state[k].is_floating_point() and not bool(torch.isfinite(state[k]).all())]
    configured = [f"{prefix}{name}" for prefix, module in ((f"{n}." if n else "", m) for n, m in model.named_modules())
                  for name in getattr(module, "CONFIGURED_BUFFERS", ())]
    differ = [f"{k}: the card's {_values(expected[k])}, the weights' {_values(state[k])}" for k in configured
              if k in state and expected[k].shape == state[k].shape and expected[k].dtype == state[k].dtype
              and not torch.equal(expected[k], state[k])]
    if missing or unexpected or shapes or dtypes or nonfinite or differ:
        parts = [f"missing from the weights: {', '.join(missing)}" if missing else "",
                 f"not in the model: {', '.join(unexpected)}" if unexpected else "",
                 f"shapes differ: {'; '.join(shapes)}" if shapes else "",
                 f"dtypes differ: {'; '.join(dtypes)}" if dtypes else "",
                 f"not finite (NaN or inf): {', '.join(nonfinite)}" if nonfinite else "",
                 f"set by the card, not learned, yet different: {'; '.join(differ)}" if differ else ""]
        raise WeightsMismatchError(f"{location} does not fit the architecture the card describes — "
                                   + " | ".join(p for p in parts if p))
    model.load_state_dict(state, strict=True)


def _values(tensor: Tensor) -> str:
    values = tensor.flatten().tolist()
    return "[" + ", ".join(f"{v:.6g}" for v in values[:8]) + (", …]" if len(values) > 8 else "]")


def warn_if_unverified(file: WeightsFile, card: ModelCard, digest: str) -> bool:
    """True when the weights are the card's; warns when a user's override differs from them."""
    matches = digest == card.weights.sha256
    if file.expected_sha256 is None and not matches:
        warnings.warn(f"{card.name}: loading {file.location}, whose sha256 {digest[:12]}… is not the card's "
                      f"{card.weights.sha256[:12]}…; results with it are not the registered model's",
                      stacklevel=3)
    return matches
