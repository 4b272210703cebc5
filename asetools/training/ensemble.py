"""Deep ensembles: the same training run repeated with different seeds, one directory per member."""

from __future__ import annotations

import copy
import logging
from pathlib import Path

from ..models import EnergyModel
from .config import TrainRunConfig
from .run import train_from_config
from .trainer import LAST_CHECKPOINT, FitResult

__all__ = ["member_config", "train_ensemble"]

logger = logging.getLogger(__name__)


def member_config(config: TrainRunConfig, index: int) -> TrainRunConfig:
    """Member ``index``'s configuration: ``training.seed + index`` and ``<output.directory>/member_<index>``.

    The data and its split stay those of ``config``: the members differ in their initial
    weights and batch order only, as in a deep ensemble.
    """
    member = copy.deepcopy(config)
    member.training.seed = config.training.seed + index
    member.output.directory = str(Path(config.output.directory) / f"member_{index}")
    return member


def train_ensemble(
    config: TrainRunConfig, members: int, resume: bool = False, progress: bool = False
) -> list[tuple[EnergyModel, FitResult]]:
    """Train ``members`` models one after another (see :func:`member_config`).

    With ``resume``, members that have a ``last.pt`` continue from it and the others start.
    """
    if members < 2:
        raise ValueError(f"--ensemble: an ensemble needs at least 2 members, got {members}")
    if config.mts is not None:
        raise ValueError("--ensemble does not train multiple-time-step pairs; remove the mts section")
    outcomes = []
    for index in range(members):
        member = member_config(config, index)
        started = (Path(member.output.directory) / LAST_CHECKPOINT).exists()
        logger.info("ensemble member %d of %d in %s", index + 1, members, member.output.directory)
        outcomes.append(train_from_config(member, resume=resume and started, progress=progress))
    return outcomes
