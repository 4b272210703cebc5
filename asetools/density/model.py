"""A charge-density model: an equivariant network predicts orbital coefficients on atoms and virtual sites.

Data flow (Fu et al., "A recipe for charge density prediction"):

    atoms ──with_virtual_sites──▶ centres (atoms + X at bond midpoints)
          ──build_graph──▶ AtomicGraph over the centres (cutoff ``config.cutoff``)
          ──InteractionBlocks──▶ irreps features per centre
          ──linear readout, per kind──▶ coefficients in the basis layout (+ a fitted s baseline)
          ──OrbitalExpansion──▶ ρ(r) at points or on a grid (:mod:`.density_field`)

The baseline holds per kind the s-orbital coefficients of a superposition of spherical atoms
(fitted to training data before training, see :func:`asetools.density.baseline.fit_baseline`);
the network learns the rest. Coefficients of l > 0 come from l > 0 features only, so the
density rotates with the structure.
"""

from __future__ import annotations

import dataclasses
import math
import os
from typing import ClassVar

import torch
from ase import Atoms
from e3nn import o3

from ..checkpoint import read_checkpoint, restore_model
from ..graph import AtomicGraph, build_graph
from ..models.base import ConfiguredModel
from .field import OrbitalExpansion
from ..models.message_passing import InteractionBlock, natural_irreps
from .basis import OrbitalBasis, OrbitalBasisConfig
from ..models.radial import BesselBasis, PolynomialCutoff
from .virtual_sites import VIRTUAL_SYMBOL, VirtualSiteConfig, with_virtual_sites

__all__ = ["DensityModel", "DensityModelConfig", "load_density_model"]


@dataclasses.dataclass
class DensityModelConfig:
    """Hyperparameters of :class:`DensityModel` (stored in every checkpoint).

    Attributes:
        species: element symbols the model knows.
        basis: the orbital basis (size and range; see :class:`OrbitalBasisConfig`).
        virtual_sites: where virtual centres go.
        cutoff: radius of the message-passing graph over atoms and virtual sites, Å.
        num_layers: interaction blocks.
        channels: multiplicity of every irrep of the node features.
        l_max: highest l of the node features; at least the basis's highest l.
        num_radial: Bessel functions of the edge length.
        radial_hidden: hidden widths of the MLPs from edge lengths to tensor-product weights.
        average_neighbours: normalisation of the neighbour sums.
        learn_exponent_scale: predict a factor s ∈ (0.5, 2) per centre on all its exponents
            (starts at 1); the recipe switches this on when fine-tuning.
    """

    species: list[str]
    basis: OrbitalBasisConfig = dataclasses.field(default_factory=OrbitalBasisConfig)
    virtual_sites: VirtualSiteConfig = dataclasses.field(default_factory=VirtualSiteConfig)
    cutoff: float = 4.0
    num_layers: int = 3
    channels: int = 16
    l_max: int = 4
    num_radial: int = 8
    radial_hidden: list[int] = dataclasses.field(default_factory=lambda: [64])
    average_neighbours: float = 8.0
    learn_exponent_scale: bool = False

    def __post_init__(self) -> None:
        if not self.species:
            raise ValueError("density model species must list at least one element")
        if VIRTUAL_SYMBOL in self.species:
            raise ValueError(f"{VIRTUAL_SYMBOL!r} names virtual sites and cannot be a species")
        for name, value in (("cutoff", self.cutoff), ("average_neighbours", self.average_neighbours)):
            if not value > 0:
                raise ValueError(f"density model {name} must be positive, got {value}")
        for name, value in (("num_layers", self.num_layers), ("channels", self.channels), ("num_radial", self.num_radial)):
            if value < 1:
                raise ValueError(f"density model {name} must be at least 1, got {value}")


class DensityModel(ConfiguredModel):
    """Predicts the electron density of a structure as an orbital expansion.

    Use :meth:`expansion` for a structure, then :func:`~asetools.density.field.density_at_points`
    or :func:`~asetools.density.field.density_on_grid` (or the
    :class:`~asetools.density.DensityCalculator`).
    """

    kind: ClassVar[str] = "density"
    config_class: ClassVar[type] = DensityModelConfig

    def __init__(self, config: DensityModelConfig) -> None:
        super().__init__(config)
        self.kinds = [*config.species, VIRTUAL_SYMBOL]
        self.basis = OrbitalBasis(self.kinds, config.basis)
        if config.l_max < self.basis.l_max:
            raise ValueError(
                f"density model l_max ({config.l_max}) is below the basis's highest l ({self.basis.l_max}); "
                "raise l_max or lower the basis l_max"
            )
        num_kinds = len(self.kinds)
        self.embedding = torch.nn.Linear(num_kinds, config.channels, bias=False)
        self.radial_basis = BesselBasis(config.cutoff, config.num_radial)
        self.envelope = PolynomialCutoff(config.cutoff)
        self.edge_irreps = o3.Irreps.spherical_harmonics(config.l_max)
        hidden = natural_irreps(config.channels, config.l_max)
        irreps = o3.Irreps(f"{config.channels}x0e")
        blocks = []
        for _ in range(config.num_layers):
            block = InteractionBlock(
                irreps, hidden, self.edge_irreps, config.num_radial, config.radial_hidden, config.average_neighbours
            )
            blocks.append(block)
            irreps = block.irreps_out
        self.blocks = torch.nn.ModuleList(blocks)
        self.feature_irreps = irreps
        # One readout for every kind at once: output multiplicity (kind, k) per l.
        readout = o3.Irreps(
            [(count * num_kinds, (l, (-1) ** l)) for l, count in enumerate(self.basis.counts_per_l) if count]
        )
        self.readout = o3.Linear(self.feature_irreps, readout)
        self.output_scale = torch.nn.Parameter(torch.full((num_kinds, self.basis.num_radial), 0.1))
        self.baseline = torch.nn.Parameter(torch.zeros(num_kinds, self.basis.counts_per_l[0]))
        self.exponent_head = None
        if config.learn_exponent_scale:
            self.exponent_head = torch.nn.Linear(config.channels, 1, bias=False)
            torch.nn.init.zeros_(self.exponent_head.weight)

    def centres(self, atoms: Atoms) -> Atoms:
        """The orbital centres of ``atoms``: the atoms followed by their virtual sites (element X)."""
        unknown = sorted(set(atoms.get_chemical_symbols()) - set(self.config.species))
        if unknown:
            raise ValueError(
                f"the density model knows {', '.join(self.config.species)}; the structure also has "
                f"{', '.join(unknown)} (train a model that includes them)"
            )
        return with_virtual_sites(atoms, self.config.virtual_sites)

    def centre_graph(self, atoms: Atoms) -> AtomicGraph:
        """The message-passing graph over the centres of ``atoms``, in the model's dtype and device."""
        parameter = self.output_scale
        return build_graph(self.centres(atoms), self.cutoff, self.kinds, dtype=parameter.dtype, device=parameter.device)

    def forward(self, graph: AtomicGraph) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Coefficients [C, basis.num_coefficients] and exponent scales [C] (or None) of the graph's centres."""
        kinds = graph.species
        one_hot = torch.nn.functional.one_hot(kinds, len(self.kinds)).to(self.output_scale.dtype)
        features = self.embedding(one_hot)
        vectors = graph.edge_vectors()
        lengths = vectors.norm(dim=1)
        edge_radial = self.radial_basis(lengths) * self.envelope(lengths)[:, None]
        edge_harmonics = o3.spherical_harmonics(self.edge_irreps, vectors, normalize=True, normalization="component")
        for block in self.blocks:
            features = block(features, edge_harmonics, edge_radial, graph.edge_index)
        raw = self.readout(features)
        coefficients = self._select_kind(raw, kinds)
        coefficients = coefficients * self.output_scale[kinds][:, self.basis.slot_radial]
        s_count = self.basis.counts_per_l[0]
        coefficients = torch.cat([coefficients[:, :s_count] + self.baseline[kinds], coefficients[:, s_count:]], dim=1)
        coefficients = self.basis.masked(coefficients, kinds)
        scale = None
        if self.exponent_head is not None:
            x = self.exponent_head(features[:, : self.config.channels]).squeeze(1)
            scale = 1.5 / (1.0 + torch.exp(-x + math.log(2.0))) + 0.5
        return coefficients, scale

    def expansion(self, atoms: Atoms) -> OrbitalExpansion:
        """The predicted density of ``atoms`` as an :class:`OrbitalExpansion` (Å, e/Å³)."""
        graph = self.centre_graph(atoms)
        coefficients, scale = self(graph)
        periodic = tuple(bool(p) for p in graph.pbc[0].tolist())
        return OrbitalExpansion(
            positions=graph.positions,
            kinds=graph.species,
            coefficients=coefficients,
            cell=graph.cell[0] if any(periodic) else None,
            pbc=periodic,
            exponent_scale=scale,
        )

    def _select_kind(self, raw: torch.Tensor, kinds: torch.Tensor) -> torch.Tensor:
        """From the all-kinds readout [C, Σ_l K_l·kinds·(2l+1)], each centre's own block in the basis layout."""
        num_kinds = len(self.kinds)
        pieces, offset = [], 0
        rows = torch.arange(raw.shape[0], device=raw.device)
        for l, count in enumerate(self.basis.counts_per_l):
            if not count:
                continue
            width = count * num_kinds * (2 * l + 1)
            block = raw[:, offset : offset + width].reshape(-1, num_kinds, count * (2 * l + 1))
            pieces.append(block[rows, kinds])
            offset += width
        return torch.cat(pieces, dim=1)


def load_density_model(path: str | os.PathLike) -> DensityModel:
    """Build the charge-density model stored at ``path`` (on the CPU, in its stored precision)."""
    payload = read_checkpoint(path)
    if payload["kind"] != DensityModel.kind:
        raise ValueError(
            f"checkpoint {path} holds a {payload['kind']!r} potential, not a charge-density model; "
            "load it with asetools.checkpoint.load_potential"
        )
    return restore_model(DensityModel, payload, path)
