"""A fast and a slow local model that together make one potential, for multiple-time-step MD.

The fast model (short cutoff, small) carries the stiff short-range interactions;
the slow model (full cutoff and size) learns the rest. Each sees only the edges
within its own cutoff. Trained jointly (see :mod:`asetools.training.mts`), the
pair is saved as one checkpoint; :class:`~asetools.calculators.MTSCalc` evaluates
the fast model every inner step and the slow one every outer step.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from .local import LocalEnergyModel, LocalEnvironments

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
        from . import MODEL_CLASSES

        for role in ("fast", "slow"):
            part = getattr(self, role)
            if part.kind not in MODEL_CLASSES or part.kind == MTSPair.kind:
                known = ", ".join(sorted(k for k in MODEL_CLASSES if k != MTSPair.kind))
                raise ValueError(f"{role}.kind: unknown model {part.kind!r}; choose one of {known}")


def _check_local(model: torch.nn.Module, role: str) -> None:
    if not isinstance(model, LocalEnergyModel):
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

    kind = "within-cutoff"

    def __init__(self, model: LocalEnergyModel):
        torch.nn.Module.__init__(self)
        _check_local(model, "wrapped")
        self.model = model
        self.config = model.config

    def local_energies(self, environments: LocalEnvironments) -> torch.Tensor:
        return self.model.local_energies(environments.within(self.model.cutoff))


class MTSPair(LocalEnergyModel):
    """Per-atom energy of a fast plus a slow local model, each on the edges within its own cutoff.

    Build it from two models with :meth:`from_parts`, or from an
    :class:`MTSPairConfig` (as a checkpoint does). ``pair.fast`` and ``pair.slow``
    are ordinary models (save, wrap or evaluate them alone); the pair's cutoff is
    the larger of the two and its species are theirs (they must agree).
    """

    kind = "mts"
    config_class = MTSPairConfig

    def __init__(self, config: MTSPairConfig):
        super().__init__(config)
        from . import MODEL_CLASSES

        self.fast = MODEL_CLASSES[config.fast.kind].from_config(config.fast.config)
        self.slow = MODEL_CLASSES[config.slow.kind].from_config(config.slow.config)
        self._check_parts()

    @classmethod
    def from_parts(cls, fast: LocalEnergyModel, slow: LocalEnergyModel) -> MTSPair:
        """A pair holding ``fast`` and ``slow`` themselves (their weights, dtype and device)."""
        _check_local(fast, "fast")
        _check_local(slow, "slow")
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
        _check_local(self.slow, "slow")
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

    def local_energies(self, environments: LocalEnvironments) -> torch.Tensor:
        cutoff = self.cutoff
        fast = self.fast.local_energies(environments.within(self.fast.cutoff, cutoff))
        slow = self.slow.local_energies(environments.within(self.slow.cutoff, cutoff))
        return fast + slow
