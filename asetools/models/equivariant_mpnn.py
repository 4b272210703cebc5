"""Equivariant message-passing potentials: the NequIP / BOTNet design space.

Batatia et al. ("The design space of E(3)-equivariant atom-centred interatomic
potentials", 2022) describe NequIP, BOTNet and their relatives as one family of
multi-layer atom-centred models. :class:`MessagePassing` exposes the knobs the paper
studies:

    h⁰_i = embedding(z_i)                                       (num_features × 0e)
    hᵗ_i = σ( W_out · (1/√n_avg) Σ_j R(r_ij) ⊗ (W_in hᵗ⁻¹_j, Y(r̂_ij)) ) + W_sc(z_i) hᵗ⁻¹_i
    E_i  = s(z_i) · Σ_t readout_t(scalars of hᵗ_i) + e₀(z_i)

- ``num_layers``, ``l_max`` (degree of the edge harmonics and of the hidden features),
  ``num_features`` (channels per irrep) and ``parity`` (also carry irreps of the
  other parity) set the hidden irreps;
- ``radial_mlp_hidden``: the MLP from the Bessel basis (times the polynomial cutoff)
  to the tensor-product weights of each edge;
- ``normalize_by_neighbours``: divide the neighbour sum by √``avg_num_neighbors``;
- ``nonlinearity``: ``"gate"`` (NequIP: SiLU/tanh on scalars, sigmoid gates on the
  rest) or ``"none"`` (BOTNet: each layer is linear in the previous features, so the
  energy read out after layer ``t`` has body order at most ``t + 1``);
- ``readout``: ``"final"`` (one readout after the last layer, NequIP) or
  ``"per_layer"`` (a linear readout after every layer, summed; the last one is the
  MLP ``readout_mlp_hidden``: BOTNet);
- ``self_connection``: the species-dependent self-connection ``W_sc(z_i)`` on or off;
  ``resnet``: add the old features to a layer's output when their irreps match.

The last layer computes scalars only: nothing else reaches the energy.

The presets :class:`NequIP` and :class:`BOTNet` are the same model with the choices
of the two published architectures as defaults (model kinds ``nequip`` and
``botnet``). Their default sizes are modest, for training on a CPU; raise
``num_layers``, ``num_features`` and ``l_max`` toward the published models as the
budget allows.

Message passing is **not** strictly local: atom ``i``'s energy depends on atoms up to
``num_layers · r_max`` away. These models are therefore evaluated on the whole graph
at once (no block-wise evaluation with bounded memory), and the LAMMPS driver refuses
them (it would need a ghost shell of ``num_layers · r_max``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from e3nn import o3

from ..graph import AtomicGraph
from .base import EnergyModel
from .config_checks import check_hidden_widths, check_normalisation, check_species
from .message_passing import InteractionBlock
from .mlp import ScalarMLP
from .radial import BesselBasis, PolynomialCutoff
from .scale_shift import PerSpeciesScaleShift

__all__ = ["BOTNet", "BOTNetConfig", "MessagePassing", "MessagePassingConfig", "NequIP", "NequIPConfig", "hidden_irreps"]

NONLINEARITIES = ("gate", "none")
READOUTS = ("final", "per_layer")


@dataclass
class MessagePassingConfig:
    """Hyperparameters of :class:`MessagePassing` (stored in every checkpoint).

    Attributes:
        species: element symbols, in the order of species indices.
        r_max: cutoff radius of one layer in Å (the receptive field is ``num_layers · r_max``).
        num_layers: number of interaction layers (at least 1).
        l_max: largest degree of the edge spherical harmonics and hidden features (0 to 3).
        num_features: channels of each hidden irrep.
        parity: hidden features of both parities for every degree (pseudo-scalars,
            pseudo-vectors, ...); without it only the parity of spherical harmonics.
        num_bessels: number of radial Bessel functions.
        polynomial_cutoff_p: exponent ``p`` of the cutoff envelope.
        trainable_bessel: learn the Bessel frequencies.
        radial_mlp_hidden: hidden widths of the radial MLP that weights each edge's tensor product.
        nonlinearity: ``"gate"`` or ``"none"`` (see the module docstring).
        readout: ``"final"`` or ``"per_layer"``.
        readout_mlp_hidden: hidden widths of the last readout (empty: linear).
        self_connection: add the species-dependent linear self-connection in every layer.
        resnet: add the old features to a layer's output when the irreps match.
        normalize_by_neighbours: divide neighbour sums by √``avg_num_neighbors``.
        avg_num_neighbors: average number of neighbours within ``r_max`` in the training data.
        per_species_energy_scales: eV, one per species.
        per_species_energy_shifts: eV, one per species (e.g. isolated-atom energies).
    """

    species: list[str]
    r_max: float = 5.0
    num_layers: int = 3
    l_max: int = 2
    num_features: int = 32
    parity: bool = False
    num_bessels: int = 8
    polynomial_cutoff_p: int = 6
    trainable_bessel: bool = True
    radial_mlp_hidden: list[int] = field(default_factory=lambda: [64, 64])
    nonlinearity: str = "gate"
    readout: str = "final"
    readout_mlp_hidden: list[int] = field(default_factory=list)
    self_connection: bool = True
    resnet: bool = False
    normalize_by_neighbours: bool = True
    avg_num_neighbors: float = 1.0
    per_species_energy_scales: list[float] | None = None
    per_species_energy_shifts: list[float] | None = None

    def __post_init__(self):
        self.species = check_species(self.species)
        check_hidden_widths(self, "radial_mlp_hidden", "readout_mlp_hidden")
        if not self.r_max > 0:
            raise ValueError(f"r_max: must be positive, got {self.r_max}")
        if self.l_max not in (0, 1, 2, 3):
            raise ValueError(f"l_max: must be 0, 1, 2 or 3, got {self.l_max}")
        for name in ("num_layers", "num_features", "num_bessels"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}: must be at least 1, got {getattr(self, name)}")
        if self.polynomial_cutoff_p < 2:
            raise ValueError(f"polynomial_cutoff_p: must be at least 2, got {self.polynomial_cutoff_p}")
        for name in ("parity", "trainable_bessel", "self_connection", "resnet", "normalize_by_neighbours"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name}: must be true or false, got {getattr(self, name)!r}")
        if self.nonlinearity not in NONLINEARITIES:
            raise ValueError(f"nonlinearity: must be one of {', '.join(NONLINEARITIES)}, got {self.nonlinearity!r}")
        if self.readout not in READOUTS:
            raise ValueError(f"readout: must be one of {', '.join(READOUTS)}, got {self.readout!r}")
        check_normalisation(self)

    @property
    def cutoff(self) -> float:
        return float(self.r_max)


@dataclass
class NequIPConfig(MessagePassingConfig):
    """:class:`MessagePassingConfig` with NequIP's choices (Batzner et al., Nat. Commun. 2022).

    Gated nonlinearity after every convolution, a species-dependent self-connection,
    features of both parities, and one linear readout of the last layer's scalars.
    """

    num_layers: int = 4
    parity: bool = True
    nonlinearity: str = "gate"
    readout: str = "final"
    readout_mlp_hidden: list[int] = field(default_factory=list)


@dataclass
class BOTNetConfig(MessagePassingConfig):
    """:class:`MessagePassingConfig` with BOTNet's choices (Batatia et al., 2022).

    No nonlinearity in the node updates (body-ordered features), a species-dependent
    self-connection, and a readout after every layer, summed: linear ones, and a
    one-hidden-layer MLP after the last.
    """

    num_layers: int = 3
    parity: bool = False
    nonlinearity: str = "none"
    readout: str = "per_layer"
    readout_mlp_hidden: list[int] = field(default_factory=lambda: [16])


def hidden_irreps(num_features: int, l_max: int, parity: bool) -> o3.Irreps:
    """``num_features`` channels of every degree up to ``l_max``: the natural parity
    ``(-1)^l`` first, and with ``parity`` the other one too. The ``0e`` scalars lead."""
    irreps = []
    for l in range(l_max + 1):
        natural = (-1) ** l
        irreps.append((num_features, (l, natural)))
        if parity:
            irreps.append((num_features, (l, -natural)))
    return o3.Irreps(irreps)


class MessagePassing(EnergyModel):
    """An equivariant message-passing potential (the knobs are in :class:`MessagePassingConfig`).

    ``forward(graph)`` gives per-atom energies ``[N]`` in eV. The model is invariant to
    rotations, reflections, translations and permutations of like atoms, and every
    message vanishes smoothly as its edge reaches ``r_max``.
    """

    kind = "message_passing"
    config_class = MessagePassingConfig

    def __init__(self, config: MessagePassingConfig):
        super().__init__(config)
        features, num_species = config.num_features, len(config.species)
        self.embedding = torch.nn.Embedding(num_species, features)
        torch.nn.init.normal_(self.embedding.weight)
        self.radial_basis = BesselBasis(config.r_max, config.num_bessels, config.trainable_bessel)
        self.cutoff_envelope = PolynomialCutoff(config.r_max, config.polynomial_cutoff_p)
        self.edge_irreps = o3.Irreps.spherical_harmonics(config.l_max)
        average = config.avg_num_neighbors if config.normalize_by_neighbours else 1.0
        irreps = o3.Irreps(f"{features}x0e")
        blocks = []
        for index in range(config.num_layers):
            last = index == config.num_layers - 1
            target = o3.Irreps(f"{features}x0e") if last else hidden_irreps(features, config.l_max, config.parity)
            blocks.append(
                InteractionBlock(
                    irreps,
                    target,
                    self.edge_irreps,
                    config.num_bessels,
                    config.radial_mlp_hidden,
                    average,
                    gate=config.nonlinearity == "gate",
                    self_connection=config.self_connection,
                    num_species=num_species,
                )
            )
            irreps = blocks[-1].irreps_out
        self.blocks = torch.nn.ModuleList(blocks)
        readouts = [] if config.readout == "final" else [ScalarMLP(features, [], 1) for _ in blocks[:-1]]
        self.readouts = torch.nn.ModuleList([*readouts, ScalarMLP(features, config.readout_mlp_hidden, 1)])
        self.scale_shift = PerSpeciesScaleShift(config.per_species_energy_scales, config.per_species_energy_shifts)

    @property
    def num_latent_features(self) -> int:
        """Width ``F`` of the per-atom latent features (the last layer's scalars)."""
        return int(self.config.num_features)

    def forward(self, graph: AtomicGraph) -> torch.Tensor:
        return self.energies_and_features(graph)[0]

    def energies_and_features(self, graph: AtomicGraph) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-atom energies ``[N]`` in eV and invariant features ``[N, F]`` (the last layer's scalars).

        The readout of a lone atom of the same species is subtracted, so an atom without
        neighbours has exactly its species' energy shift (as in Allegro): with isolated-atom
        energies as shifts, the model's energy is the atomisation energy plus those.
        """
        species = graph.species
        vectors = graph.edge_vectors()
        lengths = torch.linalg.vector_norm(vectors, dim=-1)
        harmonics = o3.spherical_harmonics(self.edge_irreps, vectors, normalize=True, normalization="component")
        radial = self.radial_basis(lengths) * self.cutoff_envelope(lengths).unsqueeze(-1)
        # One lone atom of every species rides along at the end of the batch: no edge reaches it.
        num_atoms = species.shape[0]
        every_species = torch.arange(len(self.config.species), device=species.device)
        energy, features = self._readout(torch.cat([species, every_species]), harmonics, radial, graph.edge_index)
        lone = energy[num_atoms:]
        energy = self.scale_shift(energy[:num_atoms] - lone[species], species)
        return energy, features[:num_atoms]

    def _readout(
        self, species: torch.Tensor, harmonics: torch.Tensor, radial: torch.Tensor, edge_index: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Unscaled atom energies ``[N]`` and last-layer scalars ``[N, F]`` of atoms ``species`` joined by ``edge_index``."""
        one_hot = torch.nn.functional.one_hot(species, len(self.config.species)).to(radial.dtype)
        features = self.embedding(species).to(radial.dtype)
        width = self.config.num_features
        energy = None
        readouts = iter(self.readouts)
        for index, block in enumerate(self.blocks):
            update = block(features, harmonics, radial, edge_index, one_hot)
            features = features + update if self.config.resnet and update.shape == features.shape else update
            if self.config.readout == "per_layer" or index == len(self.blocks) - 1:
                term = next(readouts)(features[:, :width]).squeeze(-1)
                energy = term if energy is None else energy + term
        return energy, features[:, :width]


class NequIP(MessagePassing):
    """The NequIP architecture (model kind ``nequip``); see :class:`NequIPConfig`."""

    kind = "nequip"
    config_class = NequIPConfig


class BOTNet(MessagePassing):
    """The BOTNet architecture (model kind ``botnet``); see :class:`BOTNetConfig`."""

    kind = "botnet"
    config_class = BOTNetConfig
