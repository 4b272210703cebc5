"""The protocol every asetools model follows: a typed config, and the energy-model interface."""

from __future__ import annotations

from typing import Any, ClassVar

import torch

from ..config import from_dict, to_dict
from ..graph import AtomicGraph

__all__ = ["ConfiguredModel", "EnergyModel"]


class ConfiguredModel(torch.nn.Module):
    """A model built from one typed config: what a checkpoint needs to store and rebuild it.

    A subclass sets ``kind`` (the name written into checkpoints) and
    ``config_class`` (a dataclass with at least ``species: list[str]`` and
    ``cutoff: float``), and is constructed from one config object by
    :meth:`from_config`.
    """

    kind: ClassVar[str]
    config_class: ClassVar[type]

    def __init__(self, config: Any):
        super().__init__()
        if not isinstance(config, self.config_class):
            raise TypeError(
                f"{type(self).__name__} expects a {self.config_class.__name__}, got {type(config).__name__}"
            )
        self.config = config

    @property
    def species(self) -> list[str]:
        """Element symbols, in the order of the graph's species indices."""
        return list(self.config.species)

    @property
    def cutoff(self) -> float:
        """Interaction cutoff radius in Å."""
        return float(self.config.cutoff)

    @classmethod
    def from_config(cls, config: Any) -> ConfiguredModel:
        """Build the model from its config dataclass (or a dict of its fields)."""
        if isinstance(config, dict):
            config = from_dict(cls.config_class, config, context=cls.__name__)
        return cls(config)

    def config_dict(self) -> dict[str, Any]:
        """The config as plain Python values (what a checkpoint stores)."""
        return to_dict(self.config)


class EnergyModel(ConfiguredModel):
    """Base class of energy models: ``forward(graph) -> per-atom energies [N]`` in eV.

    Models know nothing of ASE; forces and stress come from :class:`asetools.models.Potential`.
    """

    #: Width of the per-atom latent features, or ``None`` for a model without them.
    num_latent_features: int | None = None

    def forward(self, graph: AtomicGraph) -> torch.Tensor:  # pragma: no cover - abstract
        """Per-atom energies ``[N]`` in eV for the graph."""
        raise NotImplementedError

    def energies_and_features(self, graph: AtomicGraph) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-atom energies ``[N]`` in eV and invariant latent features ``[N, F]``.

        Models with a learned per-atom description override this (and set
        ``num_latent_features``); single-model uncertainty is fitted to these features.
        """
        raise no_latent_features(self)


def no_latent_features(model: torch.nn.Module) -> TypeError:
    """The error for asking a model without per-atom latent features for them."""
    return TypeError(
        f"{type(model).__name__} models have no per-atom latent features, so they cannot carry a "
        "single-model uncertainty; use an Allegro or message-passing model, or an ensemble for this model kind"
    )
