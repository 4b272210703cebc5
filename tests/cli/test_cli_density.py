"""``asetools train-density`` and ``asetools density`` from the command line."""

from __future__ import annotations

import numpy as np
from ase.build import bulk, molecule
from ase.io import write

from asetools.cli import main
from asetools.io import read_chgcar, read_cube


def test_train_then_write_cube_and_chgcar(tmp_path, density_dataset, capsys):
    config = tmp_path / "density.yaml"
    config.write_text(
        f"data:\n  dataset: {density_dataset}\n  split: [0.67, 0.22, 0.11]\n"
        "model:\n  channels: 4\n  l_max: 2\n  num_layers: 1\n  radial_hidden: [16]\n"
        "  basis: {beta: 3.0, l_max: {H: 1}, default_l_max: 2}\n"
        "training:\n  epochs: 1\n  points_per_frame: 256\n"
        "output_directory: run\n"
    )
    assert main(["train-density", str(config)]) == 0
    output = capsys.readouterr().out
    checkpoint = tmp_path / "run" / "best.pt"
    assert checkpoint.is_file() and "test molecules: NMAPE" in output

    structure = tmp_path / "methanol.xyz"
    write(structure, molecule("CH3OH"))
    assert main(["density", str(checkpoint), str(structure), "--spacing", "0.3", "--output", str(tmp_path / "m.cube")]) == 0
    output = capsys.readouterr().out
    assert "wrote" in output and "predicted electrons" in output
    grid = read_cube(tmp_path / "m.cube")
    assert grid.values.max() > 0.1 and np.all(np.isfinite(grid.values))

    # a crystal gets a CHGCAR on its cell by default (here: diamond carbon, made of a known element)
    crystal = tmp_path / "POSCAR"
    write(crystal, bulk("C", "diamond", a=3.57), format="vasp")
    assert main(["density", str(checkpoint), str(crystal), "--shape", "8", "8", "8", "--output", str(tmp_path / "CHGCAR")]) == 0
    chgcar = read_chgcar(tmp_path / "CHGCAR")
    assert chgcar.shape == (8, 8, 8) and chgcar.periodic

    # an element the model never saw is a clear error, not a crash
    write(tmp_path / "sih4.xyz", molecule("SiH4"))
    assert main(["density", str(checkpoint), str(tmp_path / "sih4.xyz")]) == 2
    assert "Si" in capsys.readouterr().err
