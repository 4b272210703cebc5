"""One checkpoint file per model: kind, typed config, species, cutoff, weights, version.

The file is a ``torch.save`` of plain Python values and tensors, read back with
``weights_only=True`` (no arbitrary code runs on load). It is written atomically.
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path
from typing import Any

import torch

from . import __version__
from ._files import atomic_path
from ._moved import moved_names
from .models import EnergyModel, Potential
from .models.base import ConfiguredModel
from .models.kinds import MODEL_CLASSES, current_kind

__all__ = [
    "save_checkpoint",
    "load_checkpoint",
    "load_potential",
    "read_checkpoint",
    "restore_model",
    "add_uncertainty",
    "FORMAT_NAME",
    "FORMAT_VERSION",
]

FORMAT_NAME = "asetools-checkpoint"
FORMAT_VERSION = 2
# Version 2: Allegro configs have ``normalize_activation`` (new models: True). Models
# in version 1 files were built with plain SiLU, so reading one sets it to False.
_REQUIRED = ("format", "format_version", "kind", "config", "species", "cutoff", "state_dict")


def save_checkpoint(
    model: ConfiguredModel,
    path: str | os.PathLike,
    metadata: dict[str, Any] | None = None,
    training_state: dict[str, Any] | None = None,
) -> Path:
    """Write ``model`` to ``path`` atomically and return the path.

    Args:
        model: an :class:`~asetools.models.EnergyModel`, or a ``Potential`` wrapping one
            (its fitted uncertainty, if any, is stored too), or any other
            :class:`~asetools.models.base.ConfiguredModel` (a charge-density model).
        path: destination file; its directory must exist.
        metadata: extra plain-Python information (training data hash, metrics, ...).
        training_state: what a trainer needs to resume (optimiser, schedule, ...),
            stored under ``"training_state"``; plain values and tensors only.
    """
    uncertainty = None
    if isinstance(model, Potential):
        model, uncertainty = model.model, model.uncertainty
    if not isinstance(model, ConfiguredModel):
        raise TypeError(f"save_checkpoint needs an asetools model (a ConfiguredModel), got {type(model).__name__}")
    payload = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "kind": model.kind,
        "config": model.config_dict(),
        "species": model.species,
        "cutoff": model.cutoff,
        "state_dict": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()},
        "asetools_version": __version__,
        "torch_version": str(torch.__version__),
        "metadata": dict(metadata or {}),
    }
    if training_state is not None:
        payload["training_state"] = training_state
    if uncertainty is not None:
        payload["uncertainty"] = uncertainty.to_payload()
    with atomic_path(path) as temporary:
        torch.save(payload, temporary)
    return Path(path)


def read_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """Read and validate a checkpoint's contents without building the model.

    Raises:
        FileNotFoundError: no such file.
        ValueError: the file is not an asetools checkpoint, is truncated or corrupt,
            or misses a required entry; the message says which.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    if path.is_dir():
        raise ValueError(f"checkpoint {path} is a directory, not a file")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except (zipfile.BadZipFile, EOFError, RuntimeError, OSError) as error:
        raise ValueError(
            f"{path} is not a readable checkpoint (truncated or corrupt file: {error}); "
            "use an intact copy or the last good checkpoint"
        ) from error
    except Exception as error:  # pickle/unpickling errors of foreign files
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else ""
        raise ValueError(
            f"{path} is not an asetools checkpoint ({type(error).__name__}: {first_line})"
        ) from error
    if not isinstance(payload, dict) or payload.get("format") != FORMAT_NAME:
        raise ValueError(
            f"{path} is not an asetools checkpoint (no '{FORMAT_NAME}' header); "
            "was it written by another program?"
        )
    missing = [key for key in _REQUIRED if key not in payload]
    if missing:
        raise ValueError(f"checkpoint {path} is missing {', '.join(missing)}; the file is damaged")
    if payload["format_version"] > FORMAT_VERSION:
        raise ValueError(
            f"checkpoint {path} has format version {payload['format_version']}, newer than this "
            f"asetools {__version__} reads ({FORMAT_VERSION}); upgrade asetools"
        )
    payload["kind"] = current_kind(payload["kind"])
    if payload["format_version"] < 2:
        payload["config"] = _plain_silu_config(payload["kind"], payload["config"])
    return payload


def _plain_silu_config(kind: str, config: dict[str, Any]) -> dict[str, Any]:
    """``config`` of a version-1 model of ``kind`` with the plain SiLU it was built with made explicit."""
    if kind == "allegro":
        return {"normalize_activation": False, **config}
    if kind == "mts_pair":
        return {
            name: {**part, "config": _plain_silu_config(current_kind(part["kind"]), part["config"])} if name in ("fast", "slow") else part
            for name, part in config.items()
        }
    return config


def load_checkpoint(path: str | os.PathLike) -> EnergyModel:
    """Build the model stored at ``path`` and load its weights (on the CPU, in their stored precision).

    The checkpoint's metadata is available as ``model.checkpoint_metadata``.
    """
    return _build_model(read_checkpoint(path), path)


def _build_model(payload: dict[str, Any], path: str | os.PathLike) -> EnergyModel:
    """The model described by a validated checkpoint ``payload`` read from ``path``."""
    kind = payload["kind"]
    if kind in _NOT_POTENTIALS:
        raise ValueError(f"checkpoint {path} holds {_NOT_POTENTIALS[kind]}")
    if kind not in MODEL_CLASSES:
        raise ValueError(
            f"checkpoint {path} holds a model of unknown kind {kind!r}; this asetools "
            f"{__version__} knows {', '.join(sorted(MODEL_CLASSES))}"
        )
    return restore_model(MODEL_CLASSES[kind], payload, path)


#: Model kinds that are not potentials, with where to load them from.
_NOT_POTENTIALS = {
    "density": "a charge-density model, not a potential; load it with asetools.density.load_density_model "
    "or asetools.density.DensityCalculator",
}


def restore_model(cls: type[ConfiguredModel], payload: dict[str, Any], path: str | os.PathLike) -> ConfiguredModel:
    """A ``cls`` built from a checkpoint's validated ``payload`` (read from ``path``), with its weights.

    The weights keep their stored precision; species, cutoff and metadata are checked and kept
    (``model.checkpoint_metadata``).

    Raises:
        ValueError: the config or the weights do not fit ``cls``; the message names the file.
    """
    kind = payload["kind"]
    try:
        model = cls.from_config(payload["config"])
    except (TypeError, ValueError) as error:
        raise ValueError(f"checkpoint {path}: invalid {kind} config: {error}") from error
    stored_dtypes = {v.dtype for v in payload["state_dict"].values() if torch.is_tensor(v) and v.is_floating_point()}
    if len(stored_dtypes) == 1:
        model.to(dtype=stored_dtypes.pop())  # keep the precision the weights were saved in
    try:
        model.load_state_dict(payload["state_dict"])
    except RuntimeError as error:
        written_by = payload.get("asetools_version", "an unknown version")
        raise ValueError(
            f"checkpoint {path}: weights do not fit the {kind} config (written by asetools {written_by}, "
            f"read by {__version__}; a model saved by another version may need retraining): {error}"
        ) from error
    if list(payload["species"]) != model.species or float(payload["cutoff"]) != model.cutoff:
        raise ValueError(f"checkpoint {path}: species/cutoff disagree with the stored config; the file is damaged")
    model.checkpoint_metadata = dict(payload.get("metadata", {}))
    return model


def load_potential(path: str | os.PathLike, edges_per_block: int | None = None) -> Potential:
    """The model at ``path`` wrapped in a :class:`~asetools.models.Potential`, with its fitted uncertainty if stored."""
    payload = read_checkpoint(path)
    model = _build_model(payload, path)
    uncertainty = None
    if "uncertainty" in payload:  # only then import the uncertainty package (it pulls in scipy)
        from .uncertainty import LatentUncertainty

        try:
            uncertainty = LatentUncertainty.from_payload(payload["uncertainty"])
        except ValueError as error:
            raise ValueError(f"checkpoint {path}: {error}") from error
    options = {} if edges_per_block is None else {"edges_per_block": edges_per_block}
    return Potential(model, uncertainty=uncertainty, **options)


def add_uncertainty(
    path: str | os.PathLike, uncertainty: Any, output: str | os.PathLike | None = None
) -> Path:
    """Store a fitted :class:`~asetools.uncertainty.LatentUncertainty` in the checkpoint at ``path``.

    Everything else in the file (weights, metadata, training state) is kept. The file
    is rewritten atomically; with ``output`` the result goes there and ``path`` is left
    as it was. A previously stored uncertainty is replaced.
    """
    payload = read_checkpoint(path)
    try:
        Potential(_build_model(payload, path), uncertainty=uncertainty)  # the same width check as in use
    except ValueError as error:
        raise ValueError(f"checkpoint {path}: {error}") from error
    payload["uncertainty"] = uncertainty.to_payload()
    target = Path(output if output is not None else path)
    with atomic_path(target) as temporary:
        torch.save(payload, temporary)
    return target


__getattr__ = moved_names(__name__, {"load_density_model": "asetools.density"})
