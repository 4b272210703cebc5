"""Build extra training molecules for the density benchmark (geometries only; needs RDKit).

The shared G2 density set has 62 training molecules, and the held-out test error of every
model size sits in the bonds of molecules with no close relative among them (O3, CN). This
script writes more small H/C/N/O/F molecules, with 3D geometries from RDKit (ETKDG embedding,
then an MMFF94 relaxation), for ``asetools dft-density`` to label:

    python benchmarks/density_molecules.py                       # writes benchmarks/data/density_extra_molecules.xyz
    asetools dft-density benchmarks/data/density_extra_molecules.xyz -o runs/density_extra --rattled 2
    python benchmarks/density.py --extra-training runs/density_extra

A second set, ``--set open-shell``, holds radicals (doublets: ``asetools dft-density`` picks the
spin from the parity of the electron count) and molecules rich in O-O, N-O and C#N bonds, the
bonding the two worst held-out molecules (the CN radical and ozone) share with nothing in the
first set. It is written to benchmarks/data/density_extra_open_shell.xyz and labelled the same
way into its own directory, so the first set's labels stay valid. A third, ``--set cn-ozone``
(benchmarks/data/density_extra_cn_ozone.xyz), holds closer relatives still: isocyanides and
radicals with a carbon at the end of a triple bond, carbonyl and nitroso oxides, and trioxides.

No molecule of ASE's G2 collection may enter: some G2 molecules are held back from the shared
set for independent evaluation, and the benchmark's own test molecules are G2 molecules too. A
candidate is dropped when its chemical formula equals the formula of any G2 molecule, which also
drops every isomer of one (stricter than needed, and it keeps the check free of geometry).

The output file is small and committed, so the benchmark itself does not need RDKit.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.collections import g2
from ase.io import write

DATA = Path(__file__).parent / "data"

# name -> SMILES. Chosen for the bond types the held-out molecules need (O-O, N-O, C#N, C=O,
# C-F, O-H, N-H) and kept to at most 12 atoms, the size range of the G2 set.
CANDIDATES = {
    # alcohols, ethers, peroxides
    "propan-1-ol": "CCCO", "propan-2-ol": "CC(C)O", "ethylene-glycol": "OCCO", "methoxyethane": "CCOC",
    "allyl-alcohol": "OCC=C", "methyl-vinyl-ether": "C=COC", "oxetane": "C1CCO1", "1,3-dioxolane": "C1COCO1",
    "methyl-hydroperoxide": "COO", "dimethyl-peroxide": "COOC", "ethyl-hydroperoxide": "CCOO",
    "dioxygen-difluoride": "FOOF", "methanediol": "OCO", "hydroxyacetone": "CC(=O)CO",
    # carbonyls and acids
    "propanal": "CCC=O", "butanone": "CCC(C)=O", "glyoxal": "O=CC=O", "methylglyoxal": "CC(=O)C=O",
    "glycolaldehyde": "O=CCO", "propanoic-acid": "CCC(=O)O", "oxalic-acid": "OC(=O)C(=O)O",
    "methyl-acetate": "CC(=O)OC", "acrolein": "O=CC=C", "methyl-vinyl-ketone": "C=CC(=O)C",
    "cyclopropanone": "O=C1CC1", "methylketene": "CC=C=O", "carbonic-acid": "OC(=O)O",
    "peroxyformic-acid": "O=COO", "acetic-anhydride-half": "CC(=O)OC=O",
    # nitrogen
    "ethylamine": "CCN", "propylamine": "CCCN", "ethanolamine": "NCCO", "aminoacetaldehyde": "NCC=O",
    "n-methylformamide": "CNC=O", "urea": "NC(N)=O", "methylhydrazine": "CNN", "methanimine": "C=N",
    "propionitrile": "CCC#N", "acrylonitrile": "C=CC#N", "malononitrile": "N#CCC#N", "cyanic-acid": "OC#N",
    "isocyanic-acid": "N=C=O", "methyl-isocyanate": "CN=C=O", "nitroethane": "CC[N+](=O)[O-]",
    "nitrous-acid": "ON=O", "nitric-acid": "O[N+](=O)[O-]", "hydroxylamine": "NO",
    "n-methylhydroxylamine": "CNO", "acetaldoxime": "CC=NO", "formaldoxime": "C=NO", "imidazole": "c1cnc[nH]1",
    "isoxazole": "c1cnoc1", "oxazole": "c1cocn1", "pyrazole": "c1cn[nH]c1", "1,2,4-triazole": "c1nc[nH]n1",
    "pyrimidine": "c1cncnc1", "pyrazine": "c1cnccn1", "diazene": "N=N", "cyanamide": "NC#N",
    "nitrosomethane": "CN=O", "nitramide": "N[N+](=O)[O-]", "glycine": "NCC(=O)O", "formohydrazide": "NNC=O",
    "methyl-nitrate": "CO[N+](=O)[O-]", "aminoacetonitrile": "NCC#N", "cyanoformaldehyde": "O=CC#N",
    "acetyl-cyanide": "CC(=O)C#N", "hydroxyacetonitrile": "OCC#N", "diazomethane": "C=[N+]=[N-]",
    "methyl-azide": "CN=[N+]=[N-]", "hydrazoic-acid": "N=[N+]=[N-]", "nitroxyl": "N=O",
    # fluorine
    "fluoroethane": "CCF", "1,1-difluoroethane": "CC(F)F", "1,2-difluoroethane": "FCCF", "vinyl-fluoride": "C=CF",
    "1,2-difluoroethene": "FC=CF", "acetyl-fluoride": "CC(=O)F", "difluoramine": "FNF", "cyanogen-fluoride": "FC#N",
    "fluoromethanol": "OCF", "2-fluoroethanol": "OCCF", "trifluoromethanol": "OC(F)(F)F", "fluoroacetonitrile": "FCC#N",
    "fluoroamine": "NF", "trifluoroacetaldehyde": "O=CC(F)(F)F", "difluoromethanol": "OC(F)F",
    "hypofluorous-acid": "OF", "fluoroformic-acid": "OC(=O)F", "2-fluoropropene": "C=C(C)F",
    "fluoroacetylene": "C#CF", "tetrafluorohydrazine": "FN(F)N(F)F", "nitryl-fluoride": "O=[N+]([O-])F",
    "nitrosyl-fluoride": "O=NF", "fluoromethylamine": "NCF", "trifluoromethylamine": "NC(F)(F)F",
    # hydrocarbons
    "1-butene": "CCC=C", "vinylacetylene": "C#CC=C", "diacetylene": "C#CC#C", "cyclopentene": "C1=CCCC1",
    "methylcyclopropane": "CC1CC1", "propyne-1-methyl-allene": "CC=C=C", "cyclopropene-3-methyl": "CC1C=C1",
}

# Radicals (one unpaired electron each, except singlet CF2) and closed-shell molecules with
# O-O chains, N-O bonds, C#N groups or ozone-like zwitterions (Criegee intermediate, nitrile oxide).
OPEN_SHELL_CANDIDATES = {
    # radicals
    "cyanomethyl": "[CH2]C#N", "hydroperoxyl": "[O]O", "methylperoxyl": "CO[O]", "nitrate-radical": "[O][N+](=O)[O-]",
    "cyanato-radical": "[O]C#N", "tricarbon-nitride": "[C]#CC#N", "aminoxyl": "N[O]", "dimethylnitroxide": "CN(C)[O]",
    "fluoromethyl": "[CH2]F", "trifluoromethyl": "F[C](F)F", "fluoroformyl": "F[C]=O", "difluoroamino": "F[N]F",
    "fluorine-monoxide": "[O]F", "fluoroperoxyl": "FO[O]", "hydrotrioxyl": "OO[O]", "formyloxyl": "[O]C=O",
    "hydroxycarbonyl": "O=[C]O", "acetylperoxyl": "CC(=O)O[O]", "hydrazinyl": "[NH]N", "propargyl": "C#C[CH2]",
    "allyl": "C=C[CH2]", "propoxyl": "CCC[O]", "glyoxalyl": "O=C[C]=O", "difluorocarbene": "F[C]F",
    "trifluoromethylperoxyl": "FC(F)(F)O[O]", "trifluoromethoxyl": "FC(F)(F)[O]", "formylperoxyl": "O=CO[O]",
    # closed shell: O-O chains, N-O and N-N oxides, nitriles
    "trioxidane": "OOO", "tetraoxidane": "OOOO", "methyl-hydrotrioxide": "COOO", "hydroperoxy-fluoride": "OOF",
    "peracetic-acid": "CC(=O)OO", "dimethyldioxirane": "CC1(C)OO1", "acetone-oxide": "CC(C)=[O+][O-]",
    "dinitrogen-trioxide": "O=N[N+](=O)[O-]", "dinitrogen-tetroxide": "[O-][N+](=O)[N+]([O-])=O",
    "dinitrogen-pentoxide": "[O-][N+](=O)O[N+]([O-])=O", "peroxynitrous-acid": "O=NOO", "difluorodiazene": "FN=NF",
    "hyponitrous-acid": "ON=NO", "fluorine-nitrate": "FO[N+](=O)[O-]", "acetonitrile-oxide": "CC#[N+][O-]",
    "fulminic-acid": "C#[N+][O-]", "nitrosyl-cyanide": "O=NC#N", "cyanoacetylene": "C#CC#N",
    "dicyanoacetylene": "N#CC#CC#N", "methyl-cyanate": "COC#N", "carbonyl-cyanide": "N#CC(=O)C#N",
    "cyanoformic-acid": "N#CC(=O)O", "cyanoformamide": "NC(=O)C#N",
}

# Closer relatives of the CN radical and of ozone, the two test molecules the open-shell set
# moved least: a carbon with a lone pair or an unpaired electron at the end of a triple bond
# (isocyanides, ethynyl-type radicals, CF), and a bent X=O(+)-O(-) unit (carbonyl oxides, nitroso
# oxides) or an O-O-O chain. Complexes that contain a held-out molecule (ozone or water beside
# something else) are left out on purpose: they would bring the test molecule itself into training.
CN_OZONE_CANDIDATES = {
    # terminal carbon on a triple bond
    "carbon-monofluoride": "F[C]", "1-propynyl": "CC#[C]", "butadiynyl": "C#CC#[C]", "fluoroethynyl": "FC#[C]",
    "cyanobutadiynyl": "N#CC#CC#[C]", "trifluoropropynyl": "FC(F)(F)C#[C]", "ethyl-isocyanide": "CC[N+]#[C-]",
    "isocyanoacetylene": "C#C[N+]#[C-]", "fluorine-isocyanide": "F[N+]#[C-]", "isocyanogen": "N#C[N+]#[C-]",
    "cyanogen": "N#CC#N", "cyanomethoxyl": "N#CC[O]", "cyanoformyl": "N#C[C]=O", "cyanoaminyl": "N#C[NH]",
    "isocyanomethyl": "[CH2][N+]#[C-]", "ketenyl": "[CH]=C=O", "isocyanatomethyl": "[CH2]N=C=O",
    "trifluoroacetonitrile": "FC(F)(F)C#N", "isocyanoformaldehyde": "O=C[N+]#[C-]",
    # X=O(+)-O(-) and O-O-O
    "difluoro-carbonyl-oxide": "FC(F)=[O+][O-]", "fluoro-carbonyl-oxide": "FC=[O+][O-]",
    "hydroxy-carbonyl-oxide": "OC=[O+][O-]", "vinyl-carbonyl-oxide": "C=CC=[O+][O-]",
    "methoxy-carbonyl-oxide": "COC=[O+][O-]", "cyano-carbonyl-oxide": "N#CC=[O+][O-]",
    "trifluoroethanal-oxide": "FC(F)(F)C=[O+][O-]", "fluoro-nitroso-oxide": "FN=[O+][O-]",
    "dimethyl-trioxide": "COOOC", "fluoro-trioxidane": "OOOF", "difluoro-trioxide": "FOOOF",
    "trioxolane": "C1OCOO1", "nitryl-fluoride": "[O-][N+](=O)F", "fluorine-nitrite": "FON=O",
    "peroxynitric-acid": "OO[N+](=O)[O-]", "nitrosyl-fluoride": "FN=O",
}

SETS = {
    "closed-shell": (CANDIDATES, DATA / "density_extra_molecules.xyz"),
    "open-shell": (OPEN_SHELL_CANDIDATES, DATA / "density_extra_open_shell.xyz"),
    "cn-ozone": (CN_OZONE_CANDIDATES, DATA / "density_extra_cn_ozone.xyz"),
}


def g2_formulas() -> set[str]:
    """Hill formulas of every molecule in ASE's G2 collection (all elements)."""
    return {g2[name].get_chemical_formula(mode="hill") for name in g2.names}


def embed(smiles: str, seed: int) -> Atoms:
    """One relaxed conformer of ``smiles``, hydrogens explicit, positions in Å.

    MMFF94 relaxes closed-shell molecules; radicals, which MMFF94 types as if the missing bond
    were there, and anything MMFF94 lacks parameters for are relaxed with UFF instead.
    """
    from rdkit import Chem
    from rdkit.Chem import AllChem, Descriptors

    molecule = Chem.AddHs(Chem.MolFromSmiles(smiles))
    parameters = AllChem.ETKDGv3()
    parameters.randomSeed = seed
    if AllChem.EmbedMolecule(molecule, parameters) != 0:
        raise RuntimeError(f"RDKit could not embed {smiles}")
    if Descriptors.NumRadicalElectrons(molecule) == 0 and AllChem.MMFFHasAllMoleculeParams(molecule):
        AllChem.MMFFOptimizeMolecule(molecule, maxIters=2000)
    else:
        AllChem.UFFOptimizeMolecule(molecule, maxIters=2000)
    numbers = [atom.GetAtomicNum() for atom in molecule.GetAtoms()]
    positions = molecule.GetConformer().GetPositions()
    atoms = Atoms(numbers=numbers, positions=positions)
    atoms.positions -= atoms.get_center_of_mass()
    return atoms


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--set", choices=sorted(SETS), default="closed-shell", help="which candidate list to build")
    parser.add_argument("--output", default=None, help="extxyz file to write (default: the set's file under benchmarks/data)")
    parser.add_argument("--max-atoms", type=int, default=12)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    candidates, default_output = SETS[args.set]
    output = Path(args.output) if args.output else default_output

    excluded = g2_formulas()
    kept, formulas, dropped = [], [], []
    for name, smiles in candidates.items():
        atoms = embed(smiles, args.seed)
        formula = atoms.get_chemical_formula(mode="hill")
        if formula in excluded or len(atoms) > args.max_atoms or not set(atoms.symbols) <= set("HCNOF"):
            dropped.append(f"{name} ({formula})")
            continue
        if len(atoms) > 1 and atoms.get_all_distances()[np.triu_indices(len(atoms), k=1)].min() < 0.7:
            raise RuntimeError(f"{name}: atoms closer than 0.7 Å after relaxation")
        atoms.info["name"] = name
        atoms.info["smiles"] = smiles
        kept.append(atoms)
        formulas.append(formula)
    duplicates = {f for f in formulas if formulas.count(f) > 1}
    write(output, kept, format="extxyz")
    print(f"kept {len(kept)} molecules ({sum(len(a) for a in kept)} atoms) in {output}")
    print(f"dropped {len(dropped)} (a G2 formula, too large or another element): {', '.join(dropped)}")
    if duplicates:
        print(f"isomers kept together: {', '.join(sorted(duplicates))}")


if __name__ == "__main__":
    main()
