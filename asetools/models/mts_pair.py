"""A fast local model and a slow model that together make one potential, for multiple-time-step MD.

The fast model (short cutoff, small, strictly local) carries the stiff short-range
interactions; the slow model (full cutoff and size) learns the rest. Each sees only
the edges within its own cutoff. The slow model may be a message-passing model
(NequIP, BOTNet); the pair is then not strictly local, and is evaluated on whole
graphs (no block-wise evaluation, no LAMMPS). Trained jointly (see :mod:`asetools.training.mts`), the
pair is saved as one checkpoint; :class:`~asetools.calculators.MTSCalc` evaluates
the fast model every inner step and the slow one every outer step.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from ..graph import AtomicGraph
from .base import EnergyModel
from .local import LocalEnergyModel, LocalEnvironments, is_strictly_local

__all__ = ["MTSPair", "MTSPairConfig", "PartConfig", "WithinCutoff"]


@dataclass
class PartConfig:
    """One part of a pair: a model kind and its config fields.

    Attributes:
        kind: model kind, e.g. ``allegro``.
        config: the fields of that kind's config dataclass (``species`` included).
    """

    kind: str
    config: dict[str, Any] = field(default_factory=dict)


@dataclass
class MTSPairConfig:
    """Config of :class:`MTSPair`: its two parts (the pair's species and cutoff are its parts')."""

    fast: PartConfig
    slow: PartConfig

    def __post_init__(self):
        from .kinds import MODEL_CLASSES, current_kind

        for role in ("fast", "slow"):
            part = getattr(self, role)
            part.kind = current_kind(part.kind)
            if part.kind not in MODEL_CLASSES or part.kind == MTSPair.kind:
                known = ", ".join(sorted(k for k in MODEL_CLASSES if k != MTSPair.kind))
                raise ValueError(f"{role}.kind: unknown model {part.kind!r}; choose one of {known}")


def _check_local(model: torch.nn.Module, role: str) -> None:
    if not is_strictly_local(model):
        raise TypeError(
            f"the {role} part of an MTS pair must be a strictly local model (LocalEnergyModel), "
            f"got {type(model).__name__}"
        )


class WithinCutoff(LocalEnergyModel):
    """A view of a local model that drops the edges beyond its own cutoff.

    Lets a model with a short cutoff be evaluated on a graph built for a longer one
    (``Potential(WithinCutoff(pair.fast))`` on the pair's graph gives the fast part's
    forces). It shares the wrapped model's parameters; it has no checkpoint kind.
    """

    kind = "within_cutoff"

    def __init__(self, model: LocalEnergyModel):
        torch.nn.Module.__init__(self)
        _check_local(model, "wrapped")
        self.model = model
        self.config = model.config

    def local_energies(self, environments: LocalEnvironments) -> torch.Tensor:
        return self.model.local_energies(environments.within(self.model.cutoff))


class MTSPair(LocalEnergyModel):
    """Per-atom energy of a fast local model plus a slow model, each on the edges within its own cutoff.

    Build it from two models with :meth:`from_parts`, or from an
    :class:`MTSPairConfig` (as a checkpoint does). ``pair.fast`` and ``pair.slow``
    are ordinary models (save, wrap or evaluate them alone); the pair's cutoff is
    the larger of the two and its species are theirs (they must agree).
    """

    kind = "mts_pair"
    config_class = MTSPairConfig

    def __init__(self, config: MTSPairConfig):
        super().__init__(config)
        from .kinds import MODEL_CLASSES

        self.fast = MODEL_CLASSES[config.fast.kind].from_config(config.fast.config)
        self.slow = MODEL_CLASSES[config.slow.kind].from_config(config.slow.config)
        self._check_parts()

    @classmethod
    def from_parts(cls, fast: LocalEnergyModel, slow: EnergyModel) -> MTSPair:
        """A pair holding ``fast`` and ``slow`` themselves (their weights, dtype and device)."""
        _check_local(fast, "fast")
        if not isinstance(slow, EnergyModel):
            raise TypeError(f"the slow part of an MTS pair must be an energy model, got {type(slow).__name__}")
        config = MTSPairConfig(
            fast=PartConfig(fast.kind, fast.config_dict()), slow=PartConfig(slow.kind, slow.config_dict())
        )
        pair = cls.__new__(cls)
        LocalEnergyModel.__init__(pair, config)
        pair.fast, pair.slow = fast, slow
        pair._check_parts()
        return pair

    def _check_parts(self) -> None:
        _check_local(self.fast, "fast")
        if self.fast.species != self.slow.species:
            raise ValueError(
                f"the fast and slow models must have the same species in the same order, "
                f"got {self.fast.species} and {self.slow.species}"
            )

    @property
    def species(self) -> list[str]:
        return self.fast.species

    @property
    def cutoff(self) -> float:
        return max(self.fast.cutoff, self.slow.cutoff)

    def config_dict(self) -> dict[str, Any]:
        # The parts' current configs (from_parts models may have been renormalised since).
        return {
            "fast": {"kind": self.fast.kind, "config": self.fast.config_dict()},
            "slow": {"kind": self.slow.kind, "config": self.slow.config_dict()},
        }

    @property
    def strictly_local(self) -> bool:
        """True unless the slow part passes messages (the fast part is always strictly local)."""
        return is_strictly_local(self.slow)

    def forward(self, graph: AtomicGraph) -> torch.Tensor:
        if self.strictly_local:
            return super().forward(graph)
        # A message-passing slow part reads the whole graph; edges beyond its cutoff carry
        # exactly zero messages (its radial weights vanish there), so they may stay.
        environments = LocalEnvironments.from_graph(graph).within(self.fast.cutoff, self.cutoff)
        return self.fast.local_energies(environments) + self.slow(graph)

    def local_energies(self, environments: LocalEnvironments) -> torch.Tensor:
        if not self.strictly_local:
            raise TypeError(
                f"this MTS pair's slow part ({type(self.slow).__name__}) passes messages, so the pair has no "
                "strictly local energies; evaluate it on a whole graph (Potential does)"
            )
        cutoff = self.cutoff
        fast = self.fast.local_energies(environments.within(self.fast.cutoff, cutoff))
        slow = self.slow.local_energies(environments.within(self.slow.cutoff, cutoff))
        return fast + slow
