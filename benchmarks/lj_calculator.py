"""Force-call speed of PotentialCalc(LennardJones) against ASE's own LennardJones.

Anchor: ``ase.calculators.lj.LennardJones`` with the same parameters, timed in the
same run on the same structures. Prints atom-evaluations per second for both and
their ratio (>1 means asetools is faster). Each timing is the best of several
repeats of a force call on freshly displaced positions (so no cached result).

    python benchmarks/lj_calculator.py [--sizes 3 5 7] [--repeats 5]
"""

import argparse

from ase.build import bulk
from ase.calculators.lj import LennardJones as AseLennardJones

from asetools.calculators import PotentialCalc
from asetools.models import LennardJones
from timing import force_call_seconds

PARAMETERS = dict(sigma=3.4, epsilon=0.0104)
CUTOFF = 8.5


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[3, 5, 7], help="cubic fcc repeats per axis")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    print(f"{'atoms':>6} {'dtype':>8} {'asetools atoms/s':>17} {'ASE LJ atoms/s':>15} {'ratio':>7}")
    for size in args.sizes:
        atoms = bulk("Ar", "fcc", a=5.26, cubic=True).repeat(size)
        atoms.rattle(0.05, seed=1)
        anchor = force_call_seconds(atoms, AseLennardJones(**PARAMETERS, rc=CUTOFF), args.repeats).min()
        for dtype in ("float64", "float32"):
            model = LennardJones(species=["Ar"], cutoff=CUTOFF, **PARAMETERS)
            ours = force_call_seconds(atoms, PotentialCalc(model, dtype=dtype), args.repeats).min()
            print(
                f"{len(atoms):>6} {dtype:>8} {len(atoms) / ours:>17.0f} {len(atoms) / anchor:>15.0f} {anchor / ours:>7.2f}"
            )


if __name__ == "__main__":
    main()
