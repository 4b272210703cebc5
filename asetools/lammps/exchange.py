"""Sending the forces on ghost atoms to the ranks that own them (LAMMPS's reverse communication).

``fix external`` sets forces on a rank's own atoms only, after LAMMPS's own reverse
communication has run, so the forces a rank's energies put on other ranks' atoms are
sent here with MPI. Which rank owns a ghost is found by a rendezvous: every rank
registers its own atoms' IDs with a directory rank (``ID mod ranks``) and asks the
directory about its ghosts' IDs. The resulting plan holds as long as no rank's local
and ghost atoms change, that is until LAMMPS next rebuilds its neighbour lists and
migrates atoms; in between, a force call costs one ``Alltoallv`` of the summed ghost
forces. Every message goes to a rank that shares atoms with the sender, or to a
directory rank at a rebuild, so the volume per rank follows its ghost shell, not the
system.
"""

from __future__ import annotations

import numpy as np

__all__ = ["GhostForceExchange"]


class GhostForceExchange:
    """Adds to each rank's atoms the forces that other ranks computed on their ghost copies.

    Args:
        comm: the mpi4py communicator the ranks share.
        mpi: the ``mpi4py.MPI`` module.

    Call it on every rank at every force call, with the same arguments LAMMPS gave
    the rank; it is collective.
    """

    def __init__(self, comm, mpi):
        self.comm = comm
        self.mpi = mpi
        self.size = comm.Get_size()
        self._tags: np.ndarray | None = None
        self._nlocal = -1
        self.rebuilds = 0

    def __call__(self, tags: np.ndarray, nlocal: int, local_forces: np.ndarray, ghost_forces: np.ndarray) -> None:
        """Add the other ranks' forces on this rank's atoms to ``local_forces`` (in place).

        Args:
            tags: ``[nlocal + nghost]`` LAMMPS atom IDs of the local atoms, then the ghosts.
            nlocal: number of local atoms.
            local_forces: ``[nlocal, 3]`` forces on the local atoms, eV/Å; updated.
            ghost_forces: ``[nghost, 3]`` forces on the ghosts, eV/Å (those on images of
                local atoms must already be zero: they are not sent anywhere).
        """
        tags = np.asarray(tags, dtype=np.int64)
        unchanged = self._tags is not None and nlocal == self._nlocal and np.array_equal(tags, self._tags)
        if self.comm.allreduce(0 if unchanged else 1):
            self._plan(tags, nlocal)
        per_tag = np.zeros((len(self._send_tags), 3))
        np.add.at(per_tag, self._ghost_to_send, ghost_forces[self._foreign])
        received = self._alltoallv(per_tag.ravel(), self._send_counts * 3, self._recv_counts * 3, self.mpi.DOUBLE)
        np.add.at(local_forces, self._recv_index, received.reshape(-1, 3))

    # ------------------------------------------------------------------ plan

    def _plan(self, tags: np.ndarray, nlocal: int) -> None:
        """Who owns each foreign ghost, and where each received force goes (collective)."""
        self._tags, self._nlocal = tags.copy(), nlocal
        self.rebuilds += 1
        local_tags = tags[:nlocal]
        ghost_tags = tags[nlocal:]
        self._foreign = ~np.isin(ghost_tags, local_tags)
        send_tags, self._ghost_to_send = np.unique(ghost_tags[self._foreign], return_inverse=True)

        # 1. register local atoms with their directory ranks
        registered = self._exchange_grouped(local_tags, local_tags % self.size)
        directory = np.sort(registered[0])
        owners = np.repeat(np.arange(self.size), registered[1])[np.argsort(registered[0], kind="stable")]
        # 2. ask the directories who owns each foreign ghost; they answer in the order asked
        order = np.argsort(send_tags % self.size, kind="stable")
        asked_tags = send_tags[order]
        questions, question_counts = self._exchange_grouped(asked_tags, asked_tags % self.size, presorted=True)
        slot = np.minimum(np.searchsorted(directory, questions), max(len(directory) - 1, 0))
        answers = np.where(directory[slot] == questions, owners[slot], -1) if len(directory) else -np.ones_like(questions)
        owner = np.empty(len(send_tags), dtype=np.int64)
        asked_counts = np.bincount(asked_tags % self.size, minlength=self.size)
        owner[order] = self._alltoallv(answers, question_counts, asked_counts, self.mpi.INT64_T)
        problem = None
        if (owner < 0).any():
            problem = f"no rank owns the ghosts of atoms {send_tags[owner < 0][:5].tolist()}"
            owner[owner < 0] = self.comm.Get_rank()
        # 3. order the ghost forces by owner and tell each owner which of its atoms they are for
        by_owner = np.argsort(owner, kind="stable")
        self._send_tags = send_tags[by_owner]
        rank_of_slot = np.empty_like(by_owner)
        rank_of_slot[by_owner] = np.arange(len(by_owner))
        self._ghost_to_send = rank_of_slot[self._ghost_to_send]
        self._send_counts = np.bincount(owner, minlength=self.size)
        incoming, self._recv_counts = self._exchange_grouped(self._send_tags, owner[by_owner], presorted=True)
        local_order = np.argsort(local_tags, kind="stable")
        position = np.minimum(np.searchsorted(local_tags[local_order], incoming), max(nlocal - 1, 0))
        self._recv_index = local_order[position]
        if len(incoming) and not np.array_equal(local_tags[self._recv_index], incoming):
            problem = problem or "forces arrived for atoms this rank does not own"
        # Every rank learns of a problem anywhere, so that all raise together instead of waiting.
        problems = [p for p in self.comm.allgather(problem) if p]
        if problems:
            self._tags = None
            raise RuntimeError(f"ghost-force exchange: {'; '.join(problems)} (LAMMPS's ghosts and owners disagree)")

    # ------------------------------------------------------------------ MPI helpers

    def _exchange_grouped(self, values: np.ndarray, destinations: np.ndarray, presorted: bool = False):
        """Send each of ``values`` (int64) to its destination rank; the values received and counts per source."""
        if not presorted:
            order = np.argsort(destinations, kind="stable")
            values, destinations = values[order], destinations[order]
        send_counts = np.bincount(destinations, minlength=self.size)
        recv_counts = np.asarray(self.comm.alltoall(send_counts.tolist()), dtype=np.int64)
        return self._alltoallv(np.ascontiguousarray(values, dtype=np.int64), send_counts, recv_counts, self.mpi.INT64_T), recv_counts

    def _alltoallv(self, send: np.ndarray, send_counts: np.ndarray, recv_counts: np.ndarray, datatype) -> np.ndarray:
        dtype = np.float64 if datatype == self.mpi.DOUBLE else np.int64
        recv = np.empty(int(recv_counts.sum()), dtype=dtype)
        send_displacements = np.concatenate([[0], np.cumsum(send_counts)[:-1]])
        recv_displacements = np.concatenate([[0], np.cumsum(recv_counts)[:-1]])
        self.comm.Alltoallv(
            [np.ascontiguousarray(send, dtype=dtype), (send_counts.tolist(), send_displacements.tolist()), datatype],
            [recv, (recv_counts.tolist(), recv_displacements.tolist()), datatype],
        )
        return recv
