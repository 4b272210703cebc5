"""Fit a model's single-model uncertainty: latent features of the training set, a mixture, a calibration."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from ase import Atoms

from ..data.frames import LabelKeys, LabelledFrame, label_frames
from ..data.trajectory import iterate_frames
from ..graph import batch_graphs, build_graph
from ..models import EnergyModel, Potential
from .calibration import CalibrationReport, ErrorCalibration, calibration_report
from .latent import LatentUncertainty
from .mixture import GaussianMixture, select_mixture_by_bic

__all__ = ["UncertaintyFit", "atom_features", "fit_uncertainty"]

logger = logging.getLogger(__name__)


@dataclass
class AtomEvaluation:
    """Per-atom results of a model on a set of structures (``M`` atoms in all).

    Attributes:
        features: ``[M, F]`` latent features.
        structure_index: ``[M]`` which structure each atom belongs to.
        force_errors: ``[M]`` norm of each atom's force error in eV/Å (labelled data only).
    """

    features: np.ndarray
    structure_index: np.ndarray
    force_errors: np.ndarray | None = None


#: Calibration is cross-fitted over two halves of the validation structures; fewer than this is too few.
MIN_VALIDATION_STRUCTURES = 4


def as_fittable_potential(model: EnergyModel | Potential) -> Potential:
    """``model`` as a Potential; TypeError when it has no per-atom latent features to fit a mixture to."""
    potential = model if isinstance(model, Potential) else Potential(model)
    if getattr(potential.model, "num_latent_features", None) is None:
        raise TypeError(
            f"{type(potential.model).__name__} models have no per-atom latent features, so they cannot "
            "carry a single-model uncertainty; use an Allegro or message-passing model, or an ensemble"
        )
    return potential


def _batches(items: Iterable, size: int):
    batch = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _evaluate_atoms(
    potential: Potential, frames: Iterable[Atoms | LabelledFrame], batch_size: int
) -> AtomEvaluation:
    """Features of every atom of ``frames``, batched; labelled frames also give force-error norms.

    A labelled frame's forces are computed in the same evaluation as its features.
    """
    parameter = next(potential.model.parameters())
    features, errors, owners = [], [], []
    structure = 0
    with torch.no_grad():
        for batch in _batches(frames, batch_size):
            labelled = isinstance(batch[0], LabelledFrame)
            graphs = []
            for frame in batch:
                atoms = frame.atoms if labelled else frame
                try:
                    graphs.append(
                        build_graph(atoms, potential.cutoff, potential.species, dtype=parameter.dtype, device=parameter.device)
                    )
                except ValueError as error:
                    raise ValueError(f"structure {structure + len(graphs)}: {error}") from None
            output = potential(batch_graphs(graphs), compute_forces=labelled, compute_features=True)
            features.append(output.atom_features.double().cpu().numpy())
            if labelled:
                reference = np.concatenate([frame.forces for frame in batch])
                errors.append(np.linalg.norm(output.forces.double().cpu().numpy() - reference, axis=1))
            owners.extend(np.full(len(frame), structure + i) for i, frame in enumerate(batch))
            structure += len(batch)
    if not features:
        raise ValueError("no structures to take features from")
    return AtomEvaluation(np.concatenate(features), np.concatenate(owners), np.concatenate(errors) if errors else None)


def atom_features(
    model: EnergyModel | Potential,
    images: str | os.PathLike | Atoms | Iterable[Atoms],
    batch_size: int = 16,
    progress: bool = False,
    index: str = ":",
) -> AtomEvaluation:
    """Latent features ``[M, F]`` of every atom of ``images`` (a file, one ``Atoms`` or many), streamed."""
    frames = iterate_frames(images, index=index, progress=progress, description="features")
    return _evaluate_atoms(as_fittable_potential(model).eval(), frames, batch_size)


@dataclass
class UncertaintyFit:
    """The result of :func:`fit_uncertainty`.

    Attributes:
        uncertainty: the fitted head, ready for :class:`~asetools.models.Potential` or a checkpoint.
        bic: BIC of each mixture size tried (empty when the size was given).
        training_scores: ``[M]`` per-atom scores of the atoms the mixture was fitted to.
        report: calibration quality on validation data by two-fold cross-fitting, or ``None``.
        validation: the validation atoms' features, structures and force errors, or ``None``.
        validation_scores: ``[M_val]`` per-atom scores of the validation atoms, or ``None``.
    """

    uncertainty: LatentUncertainty
    bic: dict[int, float]
    training_scores: np.ndarray
    report: CalibrationReport | None = None
    validation: AtomEvaluation | None = None
    validation_scores: np.ndarray | None = None


def _cross_fitted(scores: np.ndarray, errors: np.ndarray, owners: np.ndarray, seed: int) -> np.ndarray:
    """Predicted errors where each half of the structures is predicted by a map fitted on the other half."""
    structures = np.unique(owners)
    rng = np.random.default_rng(seed)
    half = set(rng.permutation(structures)[: len(structures) // 2].tolist())
    in_first = np.array([owner in half for owner in owners])
    predicted = np.empty_like(scores)
    for fit_part in (in_first, ~in_first):
        calibration = ErrorCalibration.fit(scores[fit_part], errors[fit_part])
        predicted[~fit_part] = calibration(torch.from_numpy(scores[~fit_part])).numpy()
    return predicted


def fit_uncertainty(
    model: EnergyModel | Potential,
    training: str | os.PathLike | Atoms | Iterable[Atoms],
    validation: Sequence[Atoms | LabelledFrame] | None = None,
    num_components: int | None = None,
    max_components: int = 50,
    max_atoms: int = 50_000,
    batch_size: int = 16,
    seed: int = 0,
    keys: LabelKeys | None = None,
    progress: bool = False,
    on_component: Callable[[int, float], None] | None = None,
    index: str = ":",
) -> UncertaintyFit:
    """Fit a :class:`LatentUncertainty` for ``model``.

    Args:
        model: a trained model with latent features (Allegro), or a Potential wrapping one.
        training: the structures the model was trained on (a file, or ``Atoms``); no labels needed.
        validation: labelled structures (energy and forces) not used for training. When given,
            the score is calibrated to an expected per-atom force error (eV/Å) and a
            :class:`CalibrationReport` is made by two-fold cross-fitting over structures.
        num_components: the mixture size; ``None`` picks it by BIC over 1 .. ``max_components``.
        max_components: the largest mixture the BIC scan tries.
        max_atoms: fit the mixture to at most this many training atoms, drawn at random
            (EM costs grow linearly with them); the standardisation uses all atoms.
        batch_size: structures per model evaluation.
        seed: seeds the atom draw, the k-means starts and the cross-fitting split.
        keys: label keys of the validation frames.
        progress: show progress bars.
        on_component: called as ``on_component(K, bic)`` after each size of the BIC scan.
        index: which frames of a ``training`` file to use, in ``ase.io`` syntax.
    """
    potential = as_fittable_potential(model)
    training_atoms = atom_features(potential, training, batch_size=batch_size, progress=progress, index=index)
    features = torch.from_numpy(training_atoms.features)
    if features.shape[0] < 2:
        raise ValueError("the training set has fewer than two atoms; the mixture needs more data")
    mean = features.mean(dim=0)
    scale = features.std(dim=0)
    # A feature that never varies carries no information; a unit scale keeps it harmless.
    scale = torch.where(scale > 1e-8 * scale.max().clamp_min(1e-300), scale, torch.ones_like(scale))
    standardised = (features - mean) / scale
    generator = torch.Generator().manual_seed(seed)
    if standardised.shape[0] > max_atoms:
        subset = torch.randperm(standardised.shape[0], generator=generator)[:max_atoms]
        fit_points = standardised[subset]
    else:
        fit_points = standardised
    if num_components is None:
        selection = select_mixture_by_bic(fit_points, max_components=max_components, progress=on_component, seed=seed)
        mixture, bic = selection.mixture, selection.bic
    else:
        mixture, bic = GaussianMixture.fit(fit_points, num_components, seed=seed), {}
    training_scores = mixture.negative_log_likelihood(standardised).numpy()
    info = {
        "training_atoms": int(features.shape[0]),
        "fitted_atoms": int(fit_points.shape[0]),
        "training_structures": int(training_atoms.structure_index.max()) + 1,
        "num_components": mixture.num_components,
        "bic": {int(k): float(v) for k, v in bic.items()},
        "training_score_percentiles": {
            str(q): float(np.percentile(training_scores, q)) for q in (50, 90, 99, 100)
        },
    }
    calibration, report, evaluated, scores = None, None, None, None
    if validation is not None:
        frames = label_frames(list(validation), keys, potential.species)
        if len(frames) < MIN_VALIDATION_STRUCTURES:
            raise ValueError(
                f"calibration needs at least {MIN_VALIDATION_STRUCTURES} validation structures, got {len(frames)}"
            )
        unscored = LatentUncertainty(mean, scale, mixture)
        evaluated = _evaluate_atoms(
            potential.eval(), iterate_frames(frames, progress=progress, description="validation"), batch_size
        )
        scores = unscored(torch.from_numpy(evaluated.features))[0].double().numpy()
        calibration = ErrorCalibration.fit(scores, evaluated.force_errors)
        predicted = _cross_fitted(scores, evaluated.force_errors, evaluated.structure_index, seed)
        report = calibration_report(scores, predicted, evaluated.force_errors, evaluated.structure_index)
        info.update(
            validation_structures=len(frames),
            spearman_atoms=report.spearman_atoms,
            spearman_structures=report.spearman_structures,
            relative_calibration_error=report.relative_calibration_error,
        )
    uncertainty = LatentUncertainty(mean, scale, mixture, calibration, info)
    logger.info("fitted a %d-component mixture to %d atoms", mixture.num_components, fit_points.shape[0])
    return UncertaintyFit(uncertainty, bic, training_scores, report, evaluated, scores)
