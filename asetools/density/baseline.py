"""The s-orbital baseline of a density model: spherical atoms and bond sites fitted by least squares.

Before the network trains, every kind's s orbitals get one coefficient each, shared by all
centres of that kind, fitted over the training grids with the frames' electron counts and
Kato's nuclear-cusp condition as extra equations (:func:`fit_baseline`). Densities in e/Å³,
positions in Å.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from .._optional import progress_bar
from .model import DensityModel
from .references import DensityFrame

__all__ = ["CUSP_RADII", "fit_baseline"]


def fit_baseline(
    model: DensityModel,
    frames: list[DensityFrame],
    ridge: float = 1e-8,
    electron_weight: float = 100.0,
    cusp_weight: float = 10.0,
) -> torch.Tensor:
    """Set ``model.baseline`` to the least-squares s-orbital coefficients per kind over all grid points.

    Returns the fitted [kinds, K_0] coefficients. Each kind's s orbitals get one coefficient
    each, shared by all centres of that kind: a superposition of spherical atoms and bond sites.
    Every frame's electron count (analytic integral of the orbitals) enters as an extra, heavily
    weighted equation: grid points near the nuclei are few, and without it the tight core
    orbitals are poorly determined.

    The grid seldom has a point within a few hundredths of an Å of a nucleus, so the tightest
    orbitals are not determined by the data at all (a free fit alternates them in sign, and the
    density at a nucleus comes out as 10⁷ e/Å³ or negative). Kato's cusp condition fixes them:
    near a nucleus of charge Z the density falls as ρ(r) ≈ ρ(0)·exp(−2Zr/a₀), which is linear in
    the coefficients, so each element's spherical atom gets the equations
    ρ_atom(r_j) − exp(−2Z r_j/a₀)·ρ_atom(0) = 0 at the radii :data:`CUSP_RADII` (units of a₀/Z),
    weighted by ``cusp_weight`` against the grid term (0: off). Bond sites have no nucleus and no cusp.
    """
    basis = model.basis
    count = basis.counts_per_l[0]
    num_kinds = len(model.kinds)
    columns = num_kinds * count
    normal = torch.zeros(columns, columns, dtype=torch.float64)
    right = torch.zeros(columns, dtype=torch.float64)
    exponents_all = basis.exponents().detach().cpu().to(torch.float64)
    # charges[kind, k]: electrons in orbital k00 of a kind with coefficient 1
    charges = basis.s_orbital_charges(exponents_all, torch.arange(num_kinds))
    count_rows, electrons = [], []
    for frame in progress_bar(frames, total=len(frames), description="baseline", unit="frame"):
        centres = model.centres(frame.atoms)
        kinds = [model.kinds.index(symbol) for symbol in centres.get_chemical_symbols()]
        points = torch.as_tensor(frame.grid.points(), dtype=torch.float64)
        reference = torch.as_tensor(frame.grid.values.ravel(), dtype=torch.float64)
        design = _s_orbital_design(basis, points, torch.as_tensor(centres.positions), kinds, exponents_all, num_kinds)
        normal += design.T @ design
        right += design.T @ reference
        row = torch.zeros(columns, dtype=torch.float64)
        for kind in kinds:
            row[kind * count : (kind + 1) * count] += charges[kind]
        count_rows.append(row)
        electrons.append(frame.n_electrons)
    if cusp_weight:
        cusp = _cusp_rows(model, exponents_all)
        if len(cusp):
            scale_cusp = cusp_weight * float(normal.diagonal().max()) / float((cusp * cusp).sum(dim=1).mean())
            normal += scale_cusp * cusp.T @ cusp
    rows = torch.stack(count_rows)
    # stiffer than any direction of the grid term, so the counts hold almost exactly
    weight = electron_weight * float(normal.diagonal().max()) / float((rows * rows).sum(dim=1).mean())
    normal += weight * rows.T @ rows
    right += weight * rows.T @ torch.tensor(electrons, dtype=torch.float64)
    scale = normal.diagonal().clamp(min=1e-300).sqrt()
    used = normal.diagonal() > 0
    scaled = normal / scale[:, None] / scale[None, :]
    solution = torch.zeros(columns, dtype=torch.float64)
    system = scaled[used][:, used] + ridge * torch.eye(int(used.sum()), dtype=torch.float64)
    solution[used] = torch.linalg.solve(system, (right / scale)[used]) / scale[used]
    fitted = solution.reshape(num_kinds, count)
    with torch.no_grad():
        model.baseline.copy_(fitted.to(model.baseline.dtype))
    return fitted


# Radii of the cusp equations, in units of a₀/Z: inside the 1s shell, where the grid has no data.
CUSP_RADII = tuple(float(x) for x in np.linspace(0.05, 0.6, 12))


def _cusp_rows(model: DensityModel, exponents: torch.Tensor) -> torch.Tensor:
    """[elements·len(CUSP_RADII), kinds·K_0] rows of the cusp equations of each element's s orbitals (see fit_baseline)."""
    from ase.data import atomic_numbers
    from ase.units import Bohr

    num_kinds = len(model.kinds)
    fractions = torch.tensor(CUSP_RADII, dtype=torch.float64)
    rows = []
    for kind, symbol in enumerate(model.kinds):
        charge = atomic_numbers.get(symbol, 0)
        if charge == 0:  # a virtual site
            continue
        radii = torch.cat([torch.zeros(1, dtype=torch.float64), fractions * Bohr / charge])
        points = torch.stack([radii, torch.zeros_like(radii), torch.zeros_like(radii)], dim=1)
        # one centre of this kind at the origin: its s orbitals at the nucleus and at each radius
        design = _s_orbital_design(model.basis, points, torch.zeros(1, 3), [kind], exponents, num_kinds)
        rows.append(design[1:] - torch.exp(-2 * fractions)[:, None] * design[0])
    return torch.cat(rows) if rows else torch.zeros(0, num_kinds * model.basis.counts_per_l[0], dtype=torch.float64)


def _s_orbital_design(
    basis, points: torch.Tensor, centres: torch.Tensor, kinds: list[int], exponents: torch.Tensor, num_kinds: int
) -> torch.Tensor:
    """[P, kinds·K_0]: at each point, the sum over centres of a kind of that kind's s orbitals."""
    count = basis.counts_per_l[0]
    kind_index = torch.as_tensor(kinds)
    alpha = exponents[kind_index, :count]  # [C, K0]
    radii = basis.radii(exponents)[kind_index, :count]
    normalisation = basis.normalisation(exponents)[kind_index, :count] * (4 * math.pi) ** -0.5
    present = basis.radial_mask.cpu()[kind_index, :count]
    design = torch.zeros(len(points), num_kinds * count, dtype=torch.float64)
    r2 = torch.cdist(points, centres.to(torch.float64)).square()  # [P, C]
    for centre, kind in enumerate(kinds):
        near = r2[:, centre, None]
        values = normalisation[centre] * torch.exp(-alpha[centre] * near)
        values = torch.where((near <= radii[centre] ** 2) & present[centre], values, torch.zeros_like(values))
        design[:, kind * count : (kind + 1) * count] += values
    return design
