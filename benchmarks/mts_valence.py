"""The single model split as a fitted valence force field (fast) plus the rest (slow), for
the MTS benchmarks (``--valence`` of mts.py and mts_langevin.py)."""

from __future__ import annotations

import argparse
from pathlib import Path

import ase.io

from asetools.calculators import MTSCalc, PotentialCalc, ValenceCalc
from asetools.training.config import load_train_config
from asetools.valence import fit_valence_force_field

#: ``--valence`` choices: which forces the valence force field is fitted to.
VALENCE_LABELS = {"data": "the training file's reference forces", "single": "the single model's forces"}


def valence_split(single_directory: Path, labels: str, single: PotentialCalc) -> MTSCalc:
    """The single model (``single``, trained in ``single_directory``) as a fitted valence force
    field plus the rest (``MTSCalc.from_total``).

    The force field is fitted to every frame of the single model's training file, with the
    forces of ``labels`` (see :data:`VALENCE_LABELS`). The sum is the single model exactly,
    so the split changes only the integration, not the potential.
    """
    if labels not in VALENCE_LABELS:
        raise ValueError(f"valence_split: labels must be one of {sorted(VALENCE_LABELS)}, got {labels!r}")
    config = load_train_config(single_directory / "config.yaml")
    frames = ase.io.read(config.data.train_file, ":")
    forces = None
    if labels == "single":
        labeller = PotentialCalc(single_directory / "best.pt", dtype="float64")
        forces = [labeller.get_forces(atoms) for atoms in frames]
    field = fit_valence_force_field(frames, forces=forces)
    return MTSCalc.from_total(ValenceCalc(field), single)


def add_valence_option(parser: argparse.ArgumentParser) -> None:
    """The ``--valence`` option: which valence splits of the single model to run, by the forces
    they are fitted to (:data:`VALENCE_LABELS`); none by default."""
    parser.add_argument(
        "--valence", nargs="+", choices=sorted(VALENCE_LABELS), default=[],
        help="also split the single model as a fitted valence force field (fast) plus the rest (slow), "
        "fitted to the training file's forces ('data') or to the single model's on the same frames ('single')",
    )


def valence_splits(labels: list[str], single_directory: Path, single: PotentialCalc) -> dict[str, MTSCalc]:
    """The splits of ``--valence`` (``labels``) by run name, ``valence_<labels>``; see :func:`valence_split`."""
    return {f"valence_{label}": valence_split(single_directory, label, single) for label in labels}
