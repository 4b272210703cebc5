"""Allegro: a strictly local equivariant interatomic potential (Musaelian et al., Nat. Commun. 2023).

This follows the architecture as the nequip-allegro package maintains it:

- radial Bessel basis times a polynomial cutoff, projected to ``num_scalar_features``
  and multiplied by learned centre- and neighbour-species embeddings, then a bias-free
  two-body MLP: the initial per-edge scalar latent;
- a tensor embedding: spherical harmonics of the edge direction weighted per channel
  and degree by a linear map of the latent;
- ``num_layers`` Allegro layers. Each weights the spherical harmonics of every edge by
  the latent, sums them over the centre atom's edges (divided by the square root of
  the average neighbour count), couples every edge's tensor features with that sum by
  a channel-wise Clebsch-Gordan product with one learned weight per path and channel
  (:class:`ChannelwiseTensorProduct`), and feeds the resulting scalars with the old
  latent to a bias-free latent MLP. From the paper we keep the residual latent
  update ``(old + new) / sqrt(2)``. The last layer computes scalar outputs only, and
  tensor irreps with no path to those scalars are not computed at all;
- a bias-free readout MLP gives one energy per edge, summed onto its centre atom
  (divided by ``sqrt(2 * avg_num_neighbors)``), then scaled and shifted per species.

The evaluation works on a dense ``[atoms, neighbour slots]`` layout: environment sums
are reductions over slots (of the latent against the harmonics, mapped to channels
afterwards), tensor features are kept channel-major ``[atoms, channels, components,
slots]``, and each centre atom's environment is contracted with the coupling
coefficients once, leaving one small matrix product per atom and channel.

Because nothing passes messages between atoms, an atom's energy depends only on the
atoms within ``r_max`` of it, and every feature of an edge vanishes smoothly as its
length reaches ``r_max`` (bias-free layers keep the cutoff envelope's zero).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from e3nn import o3

from .config_checks import check_hidden_widths, check_normalisation, check_species
from .local import LocalEnergyModel, LocalEnvironments
from .mlp import ScalarMLP
from .radial import BesselBasis, PolynomialCutoff
from .scale_shift import PerSpeciesScaleShift
from .zbl import ZBLRepulsion
from .neighbour_slots import neighbour_slots
from .tensor_product import (
    ChannelwiseTensorProduct,
    Irrep,
    allowed_irreps,
    path_exists,
    reachable_irreps,
    spherical_harmonic_irreps,
)

__all__ = ["Allegro", "AllegroConfig", "tensor_track_irreps"]


@dataclass
class AllegroConfig:
    """Hyperparameters of :class:`Allegro` (stored in every checkpoint).

    Attributes:
        species: element symbols, in the order of species indices.
        r_max: cutoff radius in Å.
        l_max: largest spherical-harmonic degree of the tensor features (1 to 3).
        parity: also carry pseudo-tensor features (odd under mirroring, e.g. cross
            products). Without it only tensors with the parity of spherical
            harmonics are kept. The energy is invariant under rotations and mirror
            images either way.
        num_layers: number of Allegro layers (at least 1).
        num_scalar_features: width of the per-edge scalar latent (even: half of the
            species embedding comes from the centre atom, half from the neighbour).
        num_tensor_features: channels of the per-edge tensor features.
        num_bessels: number of radial Bessel functions.
        polynomial_cutoff_p: exponent ``p`` of the cutoff envelope.
        trainable_bessel: learn the Bessel frequencies.
        two_body_mlp_hidden: hidden widths of the two-body MLP.
        latent_mlp_hidden: hidden widths of each layer's latent MLP.
        readout_mlp_hidden: hidden widths of the per-edge energy readout.
        avg_num_neighbors: average number of neighbours within ``r_max`` in the
            training data; normalises the environment sums.
        per_species_energy_scales: eV, one per species (e.g. the force RMS of the data).
        per_species_energy_shifts: eV, one per species (e.g. mean energy per atom, or
            isolated-atom energies).
        zbl: add the ZBL screened nuclear repulsion (:mod:`.zbl`, cut off at ``r_max``
            with the same envelope) as a fixed prior under the learned energy, so that
            atoms pushed closer than the data ever had them are repelled.
        normalize_activation: scale every MLP's SiLU to a unit second moment
            (:class:`~asetools.models.mlp.NormalizedSiLU`, as nequip-allegro does).
            With plain SiLU a fresh model's forces start at 1-2 % of the energy
            scale and deep models sit still for many epochs before they learn.
            Checkpoints written before this option existed load with ``False``.
    """

    species: list[str]
    r_max: float = 5.0
    l_max: int = 1
    parity: bool = True
    num_layers: int = 2
    num_scalar_features: int = 64
    num_tensor_features: int = 32
    num_bessels: int = 8
    polynomial_cutoff_p: int = 6
    trainable_bessel: bool = True
    two_body_mlp_hidden: list[int] = field(default_factory=lambda: [64, 64])
    latent_mlp_hidden: list[int] = field(default_factory=lambda: [64])
    readout_mlp_hidden: list[int] = field(default_factory=lambda: [32])
    avg_num_neighbors: float = 1.0
    per_species_energy_scales: list[float] | None = None
    per_species_energy_shifts: list[float] | None = None
    zbl: bool = False
    normalize_activation: bool = True

    def __post_init__(self):
        self.species = check_species(self.species)
        if not isinstance(self.zbl, bool):
            raise ValueError(f"zbl: must be true or false, got {self.zbl!r}")
        check_hidden_widths(self, "two_body_mlp_hidden", "latent_mlp_hidden", "readout_mlp_hidden")
        if not self.r_max > 0:
            raise ValueError(f"r_max: must be positive, got {self.r_max}")
        if self.l_max not in (1, 2, 3):
            raise ValueError(f"l_max: must be 1, 2 or 3, got {self.l_max}")
        if not isinstance(self.parity, bool):
            raise ValueError(f"parity: must be true or false, got {self.parity!r}")
        if self.num_layers < 1:
            raise ValueError(f"num_layers: need at least 1, got {self.num_layers}")
        if self.num_scalar_features < 2 or self.num_scalar_features % 2:
            raise ValueError(f"num_scalar_features: must be an even number >= 2, got {self.num_scalar_features}")
        for name in ("num_tensor_features", "num_bessels"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}: must be at least 1, got {getattr(self, name)}")
        if self.polynomial_cutoff_p < 2:
            raise ValueError(f"polynomial_cutoff_p: must be at least 2, got {self.polynomial_cutoff_p}")
        check_normalisation(self)

    @property
    def cutoff(self) -> float:
        return float(self.r_max)


def weight_per_component(linear: torch.nn.Linear, channels: int, degree_of_component: torch.Tensor) -> torch.Tensor:
    """A bias-free map to one weight per (channel, degree), as ``[C, D, S]`` over components.

    ``linear`` maps ``S`` features to ``C * L`` outputs (channel-major, ``L`` degrees);
    each degree's row is repeated over its ``2l+1`` components (``degree_of_component``).
    """
    weight = linear.weight.view(channels, -1, linear.in_features)
    return weight.index_select(1, degree_of_component)


def tensor_track_irreps(config: AllegroConfig) -> list[list[Irrep]]:
    """The output irreps of each layer's tensor product, pruned to those that matter.

    A layer's product can reach every irrep in ``allowed_irreps(l_max, parity)``, but
    an irrep that no later path couples into the last layer's scalars never changes
    the energy. Those are dropped (as nequip-allegro does), which saves their paths.
    """
    harmonics = spherical_harmonic_irreps(config.l_max)
    allowed = allowed_irreps(config.l_max, config.parity)
    outputs, irreps = [], harmonics
    for index in range(config.num_layers):
        candidates = [(0, 1)] if index == config.num_layers - 1 else allowed
        irreps = reachable_irreps(irreps, harmonics, candidates)
        outputs.append(irreps)
    for index in reversed(range(config.num_layers - 1)):
        needed = outputs[index + 1]
        outputs[index] = [
            irrep for irrep in outputs[index] if any(path_exists(irrep, b, out) for b in harmonics for out in needed)
        ]
    return outputs


class AllegroLayer(torch.nn.Module):
    """One Allegro layer: environment sum, channel-wise tensor product, latent update.

    Two equivalent evaluations: :meth:`forward` on the dense ``[N, width]`` slot layout
    (the fast one) and :meth:`forward_edges` on the flat edge list (the plain reference).
    """

    def __init__(self, config: AllegroConfig, input_irreps: list[Irrep], output_irreps: list[Irrep]):
        super().__init__()
        channels = config.num_tensor_features
        self.sh_irreps = spherical_harmonic_irreps(config.l_max)
        self.env_weights = torch.nn.Linear(config.num_scalar_features, channels * len(self.sh_irreps), bias=False)
        torch.nn.init.normal_(self.env_weights.weight, std=config.num_scalar_features**-0.5)
        self.tensor_product = ChannelwiseTensorProduct(input_irreps, self.sh_irreps, output_irreps, channels)
        self.output_irreps = self.tensor_product.output_irreps
        if self.output_irreps[0] != (0, 1):
            raise RuntimeError("internal: scalars must come first among the output irreps")
        self.latent_mlp = ScalarMLP(
            config.num_scalar_features + channels,
            config.latent_mlp_hidden,
            config.num_scalar_features,
            normalize_activation=config.normalize_activation,
        )
        self.env_normalisation = config.avg_num_neighbors**-0.5
        self.channels = channels

    def _update_latent(self, latent: torch.Tensor, scalars: torch.Tensor) -> torch.Tensor:
        """``(latent + MLP([latent, scalars])) / sqrt(2)``; ``scalars`` are the ``[..., C]`` (0, +1) outputs."""
        update = self.latent_mlp(torch.cat([latent, scalars], dim=-1))
        return (latent + update) * 0.5**0.5

    def forward(
        self,
        latent: torch.Tensor,
        tensors: torch.Tensor,
        harmonics: torch.Tensor,
        degree_of_component: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One layer on the slot layout (padded slots must carry zero latent and tensors).

        The tensor features are kept channel-major, ``[N, C, D, W]``, so that the
        product with each atom's ``[C, D_in, D_out]`` map is a plain batched matrix
        product over ``(atom, channel)`` with no copies into another layout.

        Args:
            latent: ``[N, W, S]`` scalar latent of every edge slot.
            tensors: ``[N, C, D_in, W]`` tensor features.
            harmonics: ``[N, W, (l_max+1)^2]`` spherical harmonics of the edge directions.
            degree_of_component: ``[(l_max+1)^2]`` degree ``l`` of each harmonic component.

        Returns:
            the new latent ``[N, W, S]`` and tensor features ``[N, C, D_out, W]``.
        """
        # The environment sum is linear in the latent, so sum over the slots first and
        # map to channels after: sum_w (A l_w)[c, j] h_w[j] = sum_s A[c, j, s] (sum_w l_w[s] h_w[j]).
        # That replaces a [W*S -> W*C*D] product per atom with a [S -> C*D] one.
        moments = torch.bmm(latent.transpose(1, 2), harmonics)  # [N, S, D]
        weight = weight_per_component(self.env_weights, self.channels, degree_of_component)  # [C, D, S]
        env = torch.einsum("nsj,cjs->ncj", moments, weight) * self.env_normalisation
        per_atom_map = self.tensor_product.contract_environment(env)  # [N, C, D_in, D_out]
        if per_atom_map.shape[-1] == 1:
            # Scalar outputs only (the last layer): a dot product per edge and channel.
            # As a batched matrix product its backward would be an outer product with
            # inner size 1, which BLAS does slowly; multiply-and-sum is faster.
            tensors = (tensors * per_atom_map).sum(2, keepdim=True)
        else:
            tensors = torch.matmul(per_atom_map.transpose(2, 3), tensors)
        return self._update_latent(latent, tensors[:, :, 0, :].transpose(1, 2)), tensors

    def forward_edges(
        self,
        latent: torch.Tensor,
        tensors: torch.Tensor,
        harmonics: torch.Tensor,
        degree_of_component: torch.Tensor,
        centre: torch.Tensor,
        num_atoms: int,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The same layer on the flat edge list (``[E, ...]`` instead of ``[N, W, ...]``)."""
        weight = weight_per_component(self.env_weights, self.channels, degree_of_component)  # [C, D, S]
        env_edges = torch.einsum("es,cjs->ecj", latent, weight) * harmonics.unsqueeze(1)
        env_atoms = torch.zeros(
            (num_atoms, *env_edges.shape[1:]), dtype=env_edges.dtype, device=env_edges.device
        ).index_add_(0, centre, env_edges)
        env = env_atoms.index_select(0, centre) * self.env_normalisation
        tensors = self.tensor_product(tensors, env)
        return self._update_latent(latent, tensors[..., 0]), tensors


class Allegro(LocalEnergyModel):
    """Allegro energy model, ``forward(graph) -> per-atom energies [N]`` in eV (strictly local).

    Build it with ``Allegro(AllegroConfig(species=["Cu"], r_max=5.0, l_max=2))`` or
    ``Allegro.from_config({...})``. See :class:`AllegroConfig` for the hyperparameters.

    The forward pass works on the dense per-atom slot layout (:mod:`.neighbour_slots`).
    Setting ``model.reference_path = True`` switches to the plain evaluation on the edge
    list, path by path; both give the same energies to rounding.
    """

    kind = "allegro"
    config_class = AllegroConfig

    def __init__(self, config: AllegroConfig):
        super().__init__(config)
        num_species = len(config.species)
        scalars = config.num_scalar_features
        channels = config.num_tensor_features
        self.radial_basis = BesselBasis(config.r_max, config.num_bessels, trainable=config.trainable_bessel)
        self.cutoff_envelope = PolynomialCutoff(config.r_max, config.polynomial_cutoff_p)
        self.radial_projection = torch.nn.Linear(config.num_bessels, scalars, bias=False)
        torch.nn.init.normal_(self.radial_projection.weight, std=config.num_bessels**-0.5)
        self.centre_embedding = torch.nn.Embedding(num_species, scalars // 2)
        self.neighbour_embedding = torch.nn.Embedding(num_species, scalars // 2)
        self.two_body_mlp = ScalarMLP(
            scalars, config.two_body_mlp_hidden, scalars, normalize_activation=config.normalize_activation
        )
        self.sh_irreps = spherical_harmonic_irreps(config.l_max)
        degree_of_component = [l for l, _ in self.sh_irreps for _ in range(2 * l + 1)]
        self.register_buffer("degree_of_component", torch.tensor(degree_of_component), persistent=False)
        self.tensor_embedding = torch.nn.Linear(scalars, channels * len(self.sh_irreps), bias=False)
        torch.nn.init.normal_(self.tensor_embedding.weight, std=scalars**-0.5)
        layers = []
        irreps = self.sh_irreps
        for output_irreps in tensor_track_irreps(config):
            layers.append(AllegroLayer(config, irreps, output_irreps))
            irreps = layers[-1].output_irreps
        self.layers = torch.nn.ModuleList(layers)
        self.readout_mlp = ScalarMLP(
            scalars, config.readout_mlp_hidden, 1, normalize_activation=config.normalize_activation
        )
        self.edge_sum_normalisation = (2.0 * config.avg_num_neighbors) ** -0.5
        self.scale_shift = PerSpeciesScaleShift(config.per_species_energy_scales, config.per_species_energy_shifts)
        self.zbl = ZBLRepulsion(config.species, config.r_max, config.polynomial_cutoff_p) if config.zbl else None
        self.reference_path = False

    @property
    def cutoff(self) -> float:
        return float(self.config.r_max)

    def _two_body_latent(
        self, vectors: torch.Tensor, centre_species: torch.Tensor, neighbour_species: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Initial latent ``[..., S]`` and spherical harmonics ``[..., D]`` of edges ``[..., 3]``."""
        lengths = torch.linalg.vector_norm(vectors, dim=-1)
        harmonics = o3.spherical_harmonics(
            list(range(self.config.l_max + 1)), vectors, normalize=True, normalization="component"
        )
        radial = self.radial_basis(lengths) * self.cutoff_envelope(lengths).unsqueeze(-1)
        embedding = torch.cat(
            [self.centre_embedding(centre_species), self.neighbour_embedding(neighbour_species)], dim=-1
        )
        latent = self.two_body_mlp(self.radial_projection(radial) * embedding)
        return latent, harmonics

    def _tensor_embedding_weight(self) -> torch.Tensor:
        """The tensor embedding as ``[C * D, S]``, rows repeated over each degree's components."""
        channels = self.config.num_tensor_features
        return weight_per_component(self.tensor_embedding, channels, self.degree_of_component).flatten(0, 1)

    @property
    def num_latent_features(self) -> int:
        """Width ``F`` of the per-atom latent features (the final scalar latent summed over edges)."""
        return int(self.config.num_scalar_features)

    def local_energies(self, environments: LocalEnvironments) -> torch.Tensor:
        """Energies ``[n]`` in eV of the centre atoms of ``environments``."""
        return self.local_energies_and_features(environments)[0]

    def local_energies_and_features(self, environments: LocalEnvironments) -> tuple[torch.Tensor, torch.Tensor]:
        """Energies ``[n]`` in eV and invariant latent features ``[n, F]`` of the centre atoms.

        An atom's features are its edges' final scalar latents, summed and divided by
        ``sqrt(2 * avg_num_neighbors)`` like the edge energies: the invariant description
        of the environment that the readout turns into energy.
        """
        if self.reference_path:
            return self._local_energies_on_edges(environments)
        centre_species = environments.centre_species
        slots = neighbour_slots(environments.edge_centre, environments.num_centres)
        # Padded slots get a vector beyond the cutoff: their radial features, and with
        # them (bias-free layers) every feature and energy of the slot, are exactly zero.
        vectors = environments.edge_vectors
        outside = torch.tensor([2.0 * self.config.r_max, 0.0, 0.0], dtype=vectors.dtype, device=vectors.device)
        vectors = slots.scatter(vectors, outside)
        neighbour_species = slots.scatter(environments.neighbour_species, 0)
        centre_species_per_slot = centre_species.unsqueeze(1).expand(-1, slots.width)
        latent, harmonics = self._two_body_latent(vectors, centre_species_per_slot, neighbour_species)
        # Channel-major tensor features [N, C, D, W]: weights from one product with the
        # transposed latent, times the harmonics.
        weights = torch.matmul(self._tensor_embedding_weight(), latent.transpose(1, 2))  # [N, C*D, W]
        channel_major_shape = (slots.num_atoms, self.config.num_tensor_features, harmonics.shape[-1], slots.width)
        tensors = weights.view(channel_major_shape) * harmonics.transpose(1, 2).unsqueeze(1)
        for layer in self.layers:
            latent, tensors = layer(latent, tensors, harmonics, self.degree_of_component)
        edge_energy = self.readout_mlp(latent).squeeze(-1) * slots.mask
        atom_energy = edge_energy.sum(dim=1) * self.edge_sum_normalisation
        features = (latent * slots.mask.unsqueeze(-1)).sum(dim=1) * self.edge_sum_normalisation
        atom_energy = self.scale_shift(atom_energy, centre_species)
        if self.zbl is not None:
            lengths = torch.linalg.vector_norm(vectors, dim=-1)
            atom_energy = atom_energy + self.zbl(lengths, centre_species_per_slot, neighbour_species).sum(dim=1)
        return atom_energy, features

    def _local_energies_on_edges(self, environments: LocalEnvironments) -> tuple[torch.Tensor, torch.Tensor]:
        """The plain evaluation on the edge list (scatter and gather by index), as a reference."""
        centre = environments.edge_centre
        species = environments.centre_species
        latent, harmonics = self._two_body_latent(
            environments.edge_vectors, species[centre], environments.neighbour_species
        )
        weights = torch.nn.functional.linear(latent, self._tensor_embedding_weight())
        tensors = weights.unflatten(-1, (self.config.num_tensor_features, -1)) * harmonics.unsqueeze(-2)
        for layer in self.layers:
            latent, tensors = layer.forward_edges(
                latent, tensors, harmonics, self.degree_of_component, centre, environments.num_centres
            )
        edge_energy = self.readout_mlp(latent).squeeze(-1) * self.edge_sum_normalisation
        atom_energy = torch.zeros(environments.num_centres, dtype=edge_energy.dtype, device=edge_energy.device)
        atom_energy = atom_energy.index_add(0, centre, edge_energy)
        features = latent.new_zeros((environments.num_centres, latent.shape[-1])).index_add(0, centre, latent)
        atom_energy = self.scale_shift(atom_energy, species)
        if self.zbl is not None:
            lengths = torch.linalg.vector_norm(environments.edge_vectors, dim=-1)
            repulsion = self.zbl(lengths, species[centre], environments.neighbour_species)
            atom_energy = atom_energy.index_add(0, centre, repulsion)
        return atom_energy, features * self.edge_sum_normalisation
