"""A training run from a configuration: read and split the data, normalise and build the model, train.

This is what ``asetools train config.yaml`` does; it is importable so scripts and
tests can run the same thing.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import yaml
from ase.data import atomic_numbers

from .._files import atomic_path
from ..checkpoint import read_checkpoint
from ..config import from_dict, to_dict
from ..data.frames import (
    LabelledFrame,
    frames_fingerprint,
    read_isolated_atom_energies,
    read_labelled_frames,
    split_frames,
)
from ..data.statistics import DatasetStatistics, dataset_statistics
from ..models import MODEL_CLASSES, EnergyModel, MTSPair
from .config import NORMALISATION_FIELDS, ModelSection, TrainingConfig, TrainRunConfig
from .distributed import ProcessGroup, initialise_from_environment, leave_process_group, process_device
from .samples import make_samples
from .mts import MTSTrainer, residual_force_rms, residual_normalisation
from .trainer import BEST_CHECKPOINT, LAST_CHECKPOINT, FitResult, Trainer

logger = logging.getLogger(__name__)

__all__ = ["TrainingData", "load_training_data", "build_model", "train_from_config", "FAST_DIRECTORY"]

#: Subdirectory of a co-training run where stage 1 (the fast model alone) writes its files.
FAST_DIRECTORY = "fast"
#: Metadata entry of a co-training checkpoint with the outcome of stage 1.
STAGE1_KEY = "mts_stage1"


@dataclass
class TrainingData:
    """The checked frames of a run and the model species."""

    train: list[LabelledFrame]
    validation: list[LabelledFrame]
    species: list[str]
    isolated_atom_energies: dict[str, float] | None

    @functools.cached_property
    def fingerprint(self) -> str:
        """Hash of the training and validation frames (computed once; both stages of a co-training run store it)."""
        return frames_fingerprint(self.train + self.validation)


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


def build_model(
    config: TrainRunConfig,
    data: TrainingData,
    section: ModelSection | None = None,
    seed: int | None = None,
    normalisation: dict[str, object] | None = None,
) -> tuple[EnergyModel, DatasetStatistics]:
    """A model normalised by the statistics of the training frames (at its own cutoff).

    Args:
        config: the run.
        data: its frames and species.
        section: the model to build (default: ``config.model``).
        seed: seeds the weight initialisation (default: ``training.seed``).
        normalisation: normalisation fields that replace those from the statistics
            (e.g. :func:`~asetools.training.mts.residual_normalisation`).
    """
    section = section or config.model
    model_class = MODEL_CLASSES[section.kind]
    settings = from_dict(model_class.config_class, {"species": data.species, **section.options}, context="model")
    statistics = dataset_statistics(
        data.train, float(settings.cutoff), data.species, isolated_atom_energies=data.isolated_atom_energies
    )
    names = {f.name for f in dataclasses.fields(settings)}
    fields = {**statistics.normalisation(), **(normalisation or {})}
    fields = {k: v for k, v in fields.items() if k in names and k in NORMALISATION_FIELDS}
    torch.manual_seed(config.training.seed if seed is None else seed)
    return model_class(dataclasses.replace(settings, **fields)), statistics


def _write_config(config: TrainRunConfig, path: Path) -> None:
    """Write ``config`` so that :func:`load_train_config` of ``path`` gives the same run back.

    File names are written absolute (a loaded file's relative names are taken
    relative to its own directory), and a run without uncertainty says
    ``uncertainty: false`` (a bare ``uncertainty:`` turns the section on).
    """
    data_section = dataclasses.replace(config.data)
    data_section.resolve_paths(os.getcwd())
    data = to_dict(dataclasses.replace(config, data=data_section))
    data["output"]["directory"] = os.path.abspath(data["output"]["directory"])
    if data["uncertainty"] is None:
        data["uncertainty"] = False
    with atomic_path(path) as temporary:
        temporary.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")


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
    model, result, data = _train(config, group, resume, progress)
    if joined_here:  # not after an error: the other processes may never reach the barrier
        leave_process_group()
    if config.uncertainty is not None and group.is_main:  # after the group is left: no one waits on it
        from .uncertainty_head import fit_run_uncertainty

        checkpoint = Path(config.output.directory) / BEST_CHECKPOINT
        result.uncertainty = fit_run_uncertainty(config, data, checkpoint, process_device(config.training.device),
                                                 progress)
    return model, result


def _check_run_directory(directory: Path, resume: bool, checkpoints: Sequence[Path]) -> None:
    """Refuse to overwrite a run, or to resume one that is not there."""
    existing = [path for path in checkpoints if path.exists()]
    if resume and not existing:
        raise FileNotFoundError(f"nothing to resume: {checkpoints[0]} does not exist; start without --resume")
    if not resume and existing:
        raise FileExistsError(
            f"{directory} already holds a run ({existing[0].relative_to(directory)}); pass --resume to continue it, "
            "or set output.directory to a new directory"
        )


def _run_metadata(config: TrainRunConfig, data: TrainingData, statistics: DatasetStatistics) -> dict[str, object]:
    return {
        "train_file": config.data.train_file,
        "validation_file": config.data.validation_file,
        "num_train_frames": len(data.train),
        "num_validation_frames": len(data.validation),
        "dataset_fingerprint": data.fingerprint,
        "statistics": to_dict(statistics),
    }


def _train(
    config: TrainRunConfig, group: ProcessGroup, resume: bool, progress: bool
) -> tuple[EnergyModel, FitResult, TrainingData]:
    directory = Path(config.output.directory)
    last = directory / LAST_CHECKPOINT
    stages = [last] if config.mts is None else [directory / FAST_DIRECTORY / LAST_CHECKPOINT, last]
    _check_run_directory(directory, resume, stages)
    group.barrier()  # every process has checked the directory before rank 0 writes into it
    data = load_training_data(config)
    if group.is_main:
        directory.mkdir(parents=True, exist_ok=True)
        _write_config(config, directory / "config.yaml")
    if config.mts is not None:
        return (*_train_pair(config, data, group, resume, progress), data)
    model, statistics = build_model(config, data)
    if config.uncertainty is not None:
        from .uncertainty_head import check_uncertainty_section

        check_uncertainty_section(model, len(data.validation))
    _log_data(data, statistics, group)
    trainer = _stage_trainer(Trainer, model, config, config.training, data, statistics, directory, group, progress)
    return model, _run_stage(trainer, directory, resume, group), data


def _log_data(data: TrainingData, statistics: DatasetStatistics, group: ProcessGroup, what: str = "") -> None:
    if group.is_main:
        logger.info(
            f"{what}{len(data.train)} training and {len(data.validation)} validation frames; species {data.species}; "
            f"{statistics.avg_num_neighbors:.1f} neighbours per atom; force RMS {statistics.force_rms:.3f} eV/Å"
            + (f"; {group.world_size} processes" if group.world_size > 1 else "")
        )


def _stage_trainer(
    trainer_class: type[Trainer],
    model: EnergyModel,
    config: TrainRunConfig,
    settings: TrainingConfig,
    data: TrainingData,
    statistics: DatasetStatistics,
    directory: Path,
    group: ProcessGroup,
    progress: bool,
    **options,
) -> Trainer:
    """A trainer of ``model`` on the run's frames (graphs at the model's cutoff), writing into ``directory``."""
    dtype = getattr(torch, settings.dtype)
    device = process_device(settings.device)
    return trainer_class(
        model,
        make_samples(data.train, model.cutoff, model.species, dtype, device),
        make_samples(data.validation, model.cutoff, model.species, dtype, device),
        settings,
        directory,
        _run_metadata(config, data, statistics),
        progress=progress,
        plot_every=config.output.plot_every,
        group=group,
        **options,
    )


def _run_stage(trainer: Trainer, directory: Path, resume: bool, group: ProcessGroup) -> FitResult:
    """Continue the trainer from ``directory/last.pt`` if asked and present, and train."""
    last = directory / LAST_CHECKPOINT
    # Every process resumes, so every process goes by rank 0's view of the directory.
    if group.broadcast(resume and last.exists()):
        trainer.resume(last)
        if group.is_main:
            logger.info(f"resumed {last} after epoch {trainer.epoch}")
    return trainer.run()


def _slow_energy_scale(choice: str | float, residual_force_rms: float, statistics: DatasetStatistics) -> float:
    """The slow model's energy scale in eV for ``mts.slow_energy_scale`` (see :class:`MTSSection`)."""
    if choice == "residual":
        return residual_force_rms
    if choice == "reference":
        return statistics.force_rms
    return float(choice)


def _train_pair(
    config: TrainRunConfig, data: TrainingData, group: ProcessGroup, resume: bool, progress: bool
) -> tuple[MTSPair, FitResult]:
    """Co-training: the fast model alone in ``<directory>/fast``, then the pair in ``<directory>``.

    A run resumed in stage 2 does not revisit stage 1: the pair's ``last.pt`` holds
    both models' weights and the residual force RMS that normalised the slow model.
    """
    mts, directory = config.mts, Path(config.output.directory)
    fast_settings = config.fast_training
    fast, fast_statistics = build_model(config, data, section=mts.fast_model, seed=fast_settings.seed)
    pair_last = directory / LAST_CHECKPOINT
    if group.broadcast(resume and pair_last.exists()):
        stage1 = read_checkpoint(pair_last)["metadata"].get(STAGE1_KEY)
        if stage1 is None:
            raise ValueError(f"cannot resume from {pair_last}: it is not a co-training (MTS) run")
    else:
        _log_data(data, fast_statistics, group, what="stage 1, the fast model: ")
        stage1_trainer = _stage_trainer(
            Trainer, fast, config, fast_settings, data, fast_statistics, directory / FAST_DIRECTORY, group, progress
        )
        fast_result = _run_stage(stage1_trainer, directory / FAST_DIRECTORY, resume, group)
        residual = residual_force_rms(fast, stage1_trainer.train_samples, fast_settings.validation_batch_size, group)
        stage1 = {
            "stop_reason": fast_result.stop_reason,
            "best_epoch": fast_result.best_epoch,
            "validation_force_mae_eV_per_A": fast_result.final.force_mae,
            "residual_force_rms_eV_per_A": residual,
        }
        if group.is_main:
            logger.info(
                f"stage 1 done ({fast_result.stop_reason}): fast model force MAE "
                f"{1e3 * fast_result.final.force_mae:.1f} meV/Å; residual force RMS {residual:.3f} eV/Å "
                f"of {fast_statistics.force_rms:.3f}. Stage 2: the fast and slow models together"
            )
    slow_scale = _slow_energy_scale(mts.slow_energy_scale, stage1["residual_force_rms_eV_per_A"], fast_statistics)
    normalisation = residual_normalisation(slow_scale, len(data.species))
    if group.is_main:
        logger.info(f"slow model energy scale: {slow_scale:.3f} eV ({mts.slow_energy_scale})")
    slow, statistics = build_model(config, data, normalisation=normalisation)
    if mts.freeze_fast:
        fast.requires_grad_(False)
    pair = MTSPair.from_parts(fast, slow)
    trainer = _stage_trainer(
        MTSTrainer, pair, config, config.training, data, statistics, directory, group, progress,
        fast_force_weight=mts.fast_force_weight,
    )
    trainer.metadata[STAGE1_KEY] = stage1
    trainer.metadata["slow_energy_scale_eV"] = slow_scale
    return pair, _run_stage(trainer, directory, resume, group)
