"""Even-tempered Gaussian-type orbitals with learnable exponents: the basis of density models.

A centre of species ``s`` carries, for each angular momentum ``l <= l_max(s)``, radial functions
``k = 0 .. K(s, l) - 1`` with exponents ``α = exponent_min · β**k`` (Å⁻², learnable per species, l
and k). The orbital is

    φ_{lkm}(r) = N(α, l) · S_lm(r) · exp(−α r²),   N(α, l)² = 2 (2α)^(l+3/2) / Γ(l+3/2),

with ``S_lm(r) = |r|^l Y_lm(r̂)`` the real solid harmonics of e3nn (``Y`` normalised to 1 on the
sphere), so that ∫ φ² d³r = 1. Coefficients of a centre are laid out as the e3nn irreps
``K_0x0e + K_1x1o + K_2x2e + ...`` with ``K_l`` the largest count over species; slots a species
does not have are masked to zero. Each orbital is cut where its magnitude falls below
``tolerance`` (and at ``cutoff`` at the latest).
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Sequence

import numpy as np
import torch
from e3nn import o3

__all__ = ["OrbitalBasis", "OrbitalBasisConfig", "solid_harmonic_monomials"]

#: Tightest exponents (Å⁻²) per angular momentum of each element, roughly those of an uncontracted
#: def2-QZVPPD basis (the published recipe spans that range).
DEFAULT_EXPONENT_MAX: dict[str, list[float]] = {
    "H": [700.0, 10.0, 8.0],
    "C": [2.4e5, 290.0, 12.0, 7.0, 5.0],
    "N": [3.3e5, 410.0, 17.0, 10.0, 7.0],
    "O": [4.4e5, 530.0, 22.0, 13.0, 9.0],
    "F": [5.7e5, 680.0, 28.0, 17.0, 11.0],
}


@dataclasses.dataclass
class OrbitalBasisConfig:
    """Size and range of the orbital basis.

    Attributes:
        l_max: highest angular momentum per element; elements not listed use ``default_l_max``.
        default_l_max: highest angular momentum of unlisted elements and of virtual sites.
        beta: ratio of consecutive exponents (> 1); smaller means more functions, more accurate.
        exponent_min: most diffuse exponent, Å⁻².
        exponent_max: tightest exponent per l (index l), Å⁻², per element; unlisted elements use
            ``default_exponent_max``.
        default_exponent_max: tightest exponent per l for unlisted elements and virtual sites.
        cutoff: largest radius of any orbital, Å. With the defaults every orbital has fallen
            below ``tolerance`` before it, so the field is smooth; a more diffuse ``exponent_min``
            or a shorter cutoff truncates the most diffuse orbitals there.
        tolerance: orbitals are cut where their normalised magnitude falls below this (Å^-3/2).
    """

    l_max: dict[str, int] = dataclasses.field(default_factory=lambda: {"H": 2})
    default_l_max: int = 4
    beta: float = 2.0
    exponent_min: float = 0.5
    exponent_max: dict[str, list[float]] = dataclasses.field(default_factory=lambda: dict(DEFAULT_EXPONENT_MAX))
    default_exponent_max: list[float] = dataclasses.field(default_factory=lambda: [500.0, 30.0, 15.0, 8.0, 5.0])
    cutoff: float = 6.0
    tolerance: float = 1e-7

    def __post_init__(self) -> None:
        if not self.beta > 1.0:
            raise ValueError(f"orbital basis beta must be greater than 1, got {self.beta}")
        if not self.exponent_min > 0:
            raise ValueError(f"orbital basis exponent_min must be positive (1/Å²), got {self.exponent_min}")
        if not self.cutoff > 0:
            raise ValueError(f"orbital basis cutoff must be positive (Å), got {self.cutoff}")
        if not 0 < self.tolerance < 1:
            raise ValueError(f"orbital basis tolerance must lie in (0, 1), got {self.tolerance}")
        for name, value in [("default_l_max", self.default_l_max), *self.l_max.items()]:
            if not 0 <= value <= 6:
                raise ValueError(f"orbital basis l_max for {name!r} must lie in 0..6, got {value}")

    def l_max_of(self, element: str) -> int:
        return int(self.l_max.get(element, self.default_l_max))

    def counts_of(self, element: str) -> list[int]:
        """Radial functions per l (index l) of ``element``."""
        tightest = self.exponent_max.get(element, self.default_exponent_max)
        l_max = self.l_max_of(element)
        if len(tightest) <= l_max:
            raise ValueError(
                f"orbital basis exponent_max for {element!r} lists {len(tightest)} values but l_max is {l_max}; "
                "give one tightest exponent per l"
            )
        counts = []
        for l in range(l_max + 1):
            if tightest[l] < self.exponent_min:
                raise ValueError(f"orbital basis exponent_max[{l}] of {element!r} is below exponent_min")
            counts.append(int(math.floor(math.log(tightest[l] / self.exponent_min, self.beta) + 1e-9)) + 1)
        return counts


class OrbitalBasis(torch.nn.Module):
    """The orbital basis of a list of centre kinds (elements, and e.g. ``"virtual"``).

    Args:
        kinds: names of the centre kinds, in the order of the species index.
        config: basis size and range.
    """

    def __init__(self, kinds: Sequence[str], config: OrbitalBasisConfig | None = None) -> None:
        super().__init__()
        self.config = config or OrbitalBasisConfig()
        self.kinds = list(kinds)
        if not self.kinds:
            raise ValueError("an orbital basis needs at least one centre kind")
        counts = [self.config.counts_of(kind) for kind in self.kinds]
        self.l_max = max(len(c) for c in counts) - 1
        self.counts_per_l = [max((c[l] if l < len(c) else 0) for c in counts) for l in range(self.l_max + 1)]
        self.irreps = o3.Irreps([(k, (l, (-1) ** l)) for l, k in enumerate(self.counts_per_l) if k > 0])
        # One entry per radial function (l, k) of the union layout.
        self.radial_l = [l for l, k in enumerate(self.counts_per_l) for _ in range(k)]
        self.radial_k = [k for count in self.counts_per_l for k in range(count)]
        num_radial = len(self.radial_l)
        mask = torch.zeros(len(self.kinds), num_radial, dtype=torch.bool)
        for kind_index, kind_counts in enumerate(counts):
            for r, (l, k) in enumerate(zip(self.radial_l, self.radial_k)):
                mask[kind_index, r] = l < len(kind_counts) and k < kind_counts[l]
        initial = self.config.exponent_min * self.config.beta ** torch.tensor(self.radial_k, dtype=torch.float64)
        self.log_exponents = torch.nn.Parameter(initial.log().repeat(len(self.kinds), 1).to(torch.get_default_dtype()))
        self.register_buffer("radial_mask", mask, persistent=False)
        self.register_buffer("radial_degree", torch.tensor(self.radial_l, dtype=torch.long), persistent=False)
        # Coefficient slots are ordered by l, then k, then m: radial function r owns the 2l+1 slots
        # from radial_first_slot[r]; slot j belongs to radial function slot_radial[j] and to the
        # harmonic row slot_harmonic[j] = l² + m.
        self.radial_first_slot = [sum(2 * l + 1 for l in self.radial_l[:r]) for r in range(num_radial)]
        slot_radial = [r for r, l in enumerate(self.radial_l) for _ in range(2 * l + 1)]
        slot_harmonic = [l * l + m for l in self.radial_l for m in range(2 * l + 1)]
        self.register_buffer("slot_radial", torch.tensor(slot_radial, dtype=torch.long), persistent=False)
        self.register_buffer("slot_harmonic", torch.tensor(slot_harmonic, dtype=torch.long), persistent=False)

    @property
    def num_coefficients(self) -> int:
        """Coefficients per centre (the dimension of :attr:`irreps`)."""
        return self.irreps.dim

    @property
    def num_radial(self) -> int:
        return len(self.radial_l)

    def exponents(self) -> torch.Tensor:
        """[kinds, radial] exponents α, Å⁻² (masked slots hold their initial value)."""
        return self.log_exponents.exp()

    def slot_mask(self) -> torch.Tensor:
        """[kinds, num_coefficients] True where a kind has that coefficient."""
        return self.radial_mask[:, self.slot_radial]

    def normalisation(self, exponents: torch.Tensor) -> torch.Tensor:
        """N(α, l) for exponents shaped [..., radial] (l from the layout)."""
        l = self.radial_degree.to(exponents.dtype)
        log_norm = 0.5 * (math.log(2.0) + (l + 1.5) * torch.log(2.0 * exponents) - torch.lgamma(l + 1.5))
        return log_norm.exp()

    def radii(self, exponents: torch.Tensor) -> torch.Tensor:
        """[..., radial] Å: radius beyond which each orbital's magnitude stays below the tolerance.

        Uses ``max |Y_lm| <= sqrt((2l+1)/4π)`` and a bisection in r, capped at the cutoff.
        """
        with torch.no_grad():
            alpha = exponents.detach().to(torch.float64)
            l = self.radial_degree.to(torch.float64).expand_as(alpha)
            log_bound = torch.log(self.normalisation(alpha)) + 0.5 * torch.log((2 * l + 1) / (4 * math.pi))
            log_tolerance = math.log(self.config.tolerance)

            def log_magnitude(r):
                return log_bound + l * torch.log(r) - alpha * r * r

            peak = torch.sqrt(torch.clamp(l, min=1e-12) / (2 * alpha))
            low, high = peak, torch.full_like(alpha, self.config.cutoff)
            outside = log_magnitude(high) >= log_tolerance
            for _ in range(50):
                middle = 0.5 * (low + high)
                above = log_magnitude(middle) >= log_tolerance
                low = torch.where(above, middle, low)
                high = torch.where(above, high, middle)
            radius = torch.where(outside, torch.full_like(alpha, self.config.cutoff), high)
            return torch.minimum(radius, torch.full_like(radius, self.config.cutoff)).to(exponents.dtype)

    def reach(self, radii: torch.Tensor, kinds: torch.Tensor) -> float:
        """Å: the largest of ``radii`` [C, radial] among the orbitals centres of ``kinds`` [C] have (0 for none)."""
        return float(radii[self.radial_mask[kinds]].max()) if len(kinds) else 0.0

    def masked(self, coefficients: torch.Tensor, kinds: torch.Tensor) -> torch.Tensor:
        """``coefficients`` [C, num_coefficients] with the slots a centre's kind lacks set to zero."""
        return coefficients * self.slot_mask()[kinds].to(coefficients.dtype)

    def centre_exponents(self, kinds: torch.Tensor, exponent_scale: torch.Tensor | None = None) -> torch.Tensor:
        """[C, radial] exponents (Å⁻²) of centres of ``kinds`` [C], times ``exponent_scale`` [C] if given."""
        alpha = self.exponents()[kinds]
        if exponent_scale is not None:
            alpha = alpha * exponent_scale.to(alpha.dtype)[:, None]
        return alpha

    def centre_field(
        self,
        displacements: torch.Tensor,
        harmonics: torch.Tensor,
        coefficients: torch.Tensor,
        exponents: torch.Tensor,
        radii: torch.Tensor,
        kind: int,
    ) -> torch.Tensor:
        """Σ_lkm c_lkm φ_lkm(d) of one centre at points sorted by distance from it.

        Args:
            displacements: [Q, 3] Å, point minus centre, in order of increasing distance.
            harmonics: [Q, (l_max+1)²] e3nn solid harmonics of ``displacements`` (normalize=False).
            coefficients: [num_coefficients] the centre's coefficients.
            exponents: [radial] the centre's exponents, Å⁻².
            radii: [radial] the centre's orbital radii, Å (each orbital is zero beyond its radius).
            kind: the centre's kind index.

        Returns:
            [Q] the centre's field at the points. Orbitals are evaluated in groups of similar
            radius, each only on the points it reaches, so tight core orbitals cost little.
        """
        r2 = (displacements * displacements).sum(dim=1)
        total = torch.zeros_like(r2)
        normalisation = self.normalisation(exponents)
        for group, reach in self._radius_groups(radii, kind):
            count = int(torch.searchsorted(r2.detach(), torch.tensor(reach * reach, dtype=r2.dtype, device=r2.device), right=True))
            if count == 0:
                continue
            near = r2[:count, None]
            alpha = exponents[group]
            gaussian = normalisation[group] * torch.exp(-alpha * near)
            gaussian = torch.where(near <= radii[group] * radii[group], gaussian, torch.zeros_like(gaussian))
            # angular[q, f] = Σ_m c_{f m} S_{l_f m}(d_q): one small matrix product per group.
            angular = harmonics[:count] @ self._angular_matrix(coefficients, group)
            total = total + torch.nn.functional.pad((gaussian * angular).sum(dim=1), (0, len(r2) - count))
        return total

    def orbital_values(
        self, displacements: torch.Tensor, exponents: torch.Tensor, radii: torch.Tensor, kind: int
    ) -> torch.Tensor:
        """[Q, num_coefficients] every orbital φ_lkm of one centre at ``displacements`` [Q, 3] (Å).

        The columns of a design matrix: ``centre_field(...) == orbital_values(...) @ coefficients``.
        Slots the kind lacks are zero.
        """
        r2 = (displacements * displacements).sum(dim=1, keepdim=True)
        inside = (r2 <= radii * radii) & self.radial_mask[kind]
        gaussian = torch.where(inside, self.normalisation(exponents) * torch.exp(-exponents * r2), torch.zeros_like(r2))
        harmonics = o3.spherical_harmonics(
            list(range(self.l_max + 1)), displacements, normalize=False, normalization="integral"
        )
        return gaussian[:, self.slot_radial] * harmonics[:, self.slot_harmonic]

    def _radius_groups(self, radii: torch.Tensor, kind: int) -> list[tuple[torch.Tensor, float]]:
        """The kind's orbitals in groups whose radii lie within a factor of two: (indices, largest radius)."""
        present = torch.nonzero(self.radial_mask[kind]).flatten()
        values = radii.detach()[present]
        level = torch.floor(torch.log2(self.config.cutoff / values.clamp(min=1e-6))).clamp(min=0, max=6).long()
        groups = []
        for value in torch.unique(level).tolist():
            members = present[level == value]
            groups.append((members, float(radii.detach()[members].max())))
        return groups

    def _angular_matrix(self, coefficients: torch.Tensor, group: torch.Tensor) -> torch.Tensor:
        """[(l_max+1)², len(group)] the coefficients of the group's orbitals on the solid harmonics."""
        rows, columns, slots = self._angular_layout(group)
        matrix = torch.zeros((self.l_max + 1) ** 2, len(group), dtype=coefficients.dtype, device=coefficients.device)
        return matrix.index_put((rows, columns), coefficients[slots])

    def _angular_layout(self, group: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Harmonic row, group column and coefficient slot of every (orbital, m) of ``group``."""
        key = tuple(group.tolist())
        cache = self.__dict__.setdefault("_layout_cache", {})
        if key not in cache:
            rows, columns, slots = [], [], []
            for column, radial in enumerate(key):
                l = self.radial_l[radial]
                for m in range(2 * l + 1):
                    rows.append(l * l + m)
                    columns.append(column)
                    slots.append(self.radial_first_slot[radial] + m)
            cache[key] = tuple(torch.tensor(x, dtype=torch.long) for x in (rows, columns, slots))
        return tuple(t.to(group.device) for t in cache[key])

    def s_orbital_charges(self, exponents: torch.Tensor, kinds: torch.Tensor) -> torch.Tensor:
        """[C, K_0] electrons in each s orbital with coefficient 1, for centres of ``kinds`` [C].

        ``exponents`` [C, radial] as from :meth:`centre_exponents`. ∫ φ_k00 = N(α, 0)·π / (2 α^(3/2));
        slots a kind lacks give 0, and the cut tails below the tolerance are ignored.
        """
        count = self.counts_per_l[0]
        alpha = exponents[:, :count]
        present = self.radial_mask[kinds][:, :count].to(alpha.dtype)
        return self.normalisation(exponents)[:, :count] * math.pi / (2.0 * alpha**1.5) * present

    def integrals(
        self, coefficients: torch.Tensor, kinds: torch.Tensor, exponent_scale: torch.Tensor | None = None
    ) -> torch.Tensor:
        """[C] ∫ Σ c φ d³r of each centre (only s orbitals contribute): electrons per centre."""
        exponents = self.centre_exponents(kinds, exponent_scale).to(coefficients.dtype)
        count = self.counts_per_l[0]
        return (coefficients[:, :count] * self.s_orbital_charges(exponents, kinds)).sum(dim=1)


@functools.lru_cache(maxsize=None)
def solid_harmonic_monomials(l: int) -> tuple[np.ndarray, np.ndarray]:
    """Monomial expansion of e3nn's real solid harmonics of degree ``l`` (computed once per l, read-only).

    Returns:
        powers: [M, 3] integer exponents (a, b, c) of x^a y^b z^c, a + b + c = l.
        matrix: [2l+1, M] so that S_lm(r) = Σ_j matrix[m, j] · x^a_j y^b_j z^c_j (exact up to rounding).
    """
    powers = np.array([(a, b, l - a - b) for a in range(l, -1, -1) for b in range(l - a, -1, -1)], dtype=np.int64)
    rng = np.random.default_rng(l)
    points = rng.normal(size=(4 * len(powers) + 8, 3))
    monomials = np.prod(points[:, None, :] ** powers[None, :, :], axis=2)
    harmonics = o3.spherical_harmonics(l, torch.from_numpy(points), normalize=False, normalization="integral").numpy()
    matrix, *_ = np.linalg.lstsq(monomials, harmonics, rcond=None)
    matrix = matrix.T
    powers.setflags(write=False)
    matrix.setflags(write=False)
    return powers, matrix
