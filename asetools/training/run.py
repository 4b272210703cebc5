"""A training run from a configuration: read and split the data, normalise and build the model, train.

This is what ``asetools train config.yaml`` does; it is importable so scripts and
tests can run the same thing.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import yaml
from ase.data import atomic_numbers

from .._files import atomic_path
from ..config import from_dict, to_dict
from ..data.frames import (
    LabelledFrame,
    frames_fingerprint,
    read_isolated_atom_energies,
    read_labelled_frames,
    split_frames,
)
from ..data.statistics import DatasetStatistics, dataset_statistics
from ..models import MODEL_CLASSES, EnergyModel
from .config import NORMALISATION_FIELDS, TrainRunConfig
from .distributed import ProcessGroup, initialise_from_environment, leave_process_group, process_device
from .samples import make_samples
from .trainer import LAST_CHECKPOINT, FitResult, Trainer

logger = logging.getLogger(__name__)

__all__ = ["TrainingData", "load_training_data", "build_model", "train_from_config"]


@dataclass
class TrainingData:
    """The checked frames of a run and the model species."""

    train: list[LabelledFrame]
    validation: list[LabelledFrame]
    species: list[str]
    isolated_atom_energies: dict[str, float] | None


def load_training_data(config: TrainRunConfig) -> TrainingData:
    """Read, check and split the data named in ``config.data``."""
    data = config.data
    species = config.model.species
    frames = read_labelled_frames(data.train_file, data.keys, species, skip_bad=data.skip_bad_frames)
    if data.validation_file is not None:
        validation = read_labelled_frames(data.validation_file, data.keys, species, skip_bad=data.skip_bad_frames)
        train = frames
    else:
        train, validation = split_frames(frames, data.validation_fraction, data.split_seed)
    if data.max_train_frames is not None and data.max_train_frames < len(train):
        keep = np.random.default_rng(data.split_seed + 1).permutation(len(train))[: data.max_train_frames]
        train = [train[i] for i in sorted(keep.tolist())]
    if species is None:
        present = {symbol for frame in train + validation for symbol in frame.atoms.get_chemical_symbols()}
        species = sorted(present, key=lambda symbol: atomic_numbers[symbol])
    isolated = None
    if data.isolated_atoms_file is not None:
        isolated = read_isolated_atom_energies(data.isolated_atoms_file, data.keys.energy)
    return TrainingData(train, validation, list(species), isolated)


def build_model(config: TrainRunConfig, data: TrainingData) -> tuple[EnergyModel, DatasetStatistics]:
    """The model of ``config.model``, normalised by the statistics of the training frames.

    The weights are initialised from ``training.seed``.
    """
    section = config.model
    model_class = MODEL_CLASSES[section.kind]
    settings = from_dict(model_class.config_class, {"species": data.species, **section.options}, context="model")
    statistics = dataset_statistics(
        data.train, float(settings.cutoff), data.species, isolated_atom_energies=data.isolated_atom_energies
    )
    names = {f.name for f in dataclasses.fields(settings)}
    normalisation = {k: v for k, v in statistics.normalisation().items() if k in names and k in NORMALISATION_FIELDS}
    torch.manual_seed(config.training.seed)
    return model_class(dataclasses.replace(settings, **normalisation)), statistics


def _write_config(config: TrainRunConfig, path: Path) -> None:
    with atomic_path(path) as temporary:
        temporary.write_text(yaml.safe_dump(to_dict(config), sort_keys=False), encoding="utf-8")


def train_from_config(config: TrainRunConfig, resume: bool = False, progress: bool = False) -> tuple[EnergyModel, FitResult]:
    """Run the training described by ``config``; with ``resume``, continue from the run directory's ``last.pt``.

    Under ``torchrun`` (``WORLD_SIZE`` > 1) every process runs this, joins the
    process group and trains its share of each batch; rank 0 writes the files.

    Raises:
        FileExistsError: the run directory already holds a run and ``resume`` is off.
        FileNotFoundError: ``resume`` is on but there is nothing to resume.
    """
    joined_here = not (torch.distributed.is_available() and torch.distributed.is_initialized())
    group = initialise_from_environment(config.training.device)
    outcome = _train(config, group, resume, progress)
    if joined_here:  # not after an error: the other processes may never reach the barrier
        leave_process_group()
    return outcome


def _train(config: TrainRunConfig, group: ProcessGroup, resume: bool, progress: bool) -> tuple[EnergyModel, FitResult]:
    directory = Path(config.output.directory)
    last = directory / LAST_CHECKPOINT
    if resume and not last.exists():
        raise FileNotFoundError(f"nothing to resume: {last} does not exist; start without --resume")
    if not resume and last.exists():
        raise FileExistsError(
            f"{directory} already holds a run ({LAST_CHECKPOINT}); pass --resume to continue it, "
            "or set output.directory to a new directory"
        )
    group.barrier()  # every process has checked the directory before rank 0 writes into it
    data = load_training_data(config)
    model, statistics = build_model(config, data)
    if group.is_main:
        logger.info(
            f"{len(data.train)} training and {len(data.validation)} validation frames; species {data.species}; "
            f"{statistics.avg_num_neighbors:.1f} neighbours per atom; force RMS {statistics.force_rms:.3f} eV/Å"
            + (f"; {group.world_size} processes" if group.world_size > 1 else "")
        )
    settings = config.training
    dtype = getattr(torch, settings.dtype)
    device = process_device(settings.device)
    samples = make_samples(data.train, model.cutoff, model.species, dtype, device)
    validation = make_samples(data.validation, model.cutoff, model.species, dtype, device)
    metadata = {
        "train_file": config.data.train_file,
        "validation_file": config.data.validation_file,
        "num_train_frames": len(data.train),
        "num_validation_frames": len(data.validation),
        "dataset_fingerprint": frames_fingerprint(data.train + data.validation),
        "statistics": to_dict(statistics),
    }
    if group.is_main:
        directory.mkdir(parents=True, exist_ok=True)
        _write_config(config, directory / "config.yaml")
    trainer = Trainer(
        model,
        samples,
        validation,
        settings,
        directory,
        metadata,
        progress=progress,
        plot_every=config.output.plot_every,
        group=group,
    )
    if resume:
        trainer.resume(last)
        if group.is_main:
            logger.info(f"resumed {last} after epoch {trainer.epoch}")
    return model, trainer.run()
