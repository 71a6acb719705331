"""The test cluster recovers from a run killed before it could unlink its /etc/slurm links."""

import os

import slurm_cluster


def _cluster_dir(tmp_path, pid: int):
    root = tmp_path / f"cluster-{pid}"
    root.mkdir()
    (root / "slurm.conf").write_text("ClusterName=synesthesia\nSlurmUser=root\n")
    (root / "slurmctld.pid").write_text(f"{pid}\n")
    return root


def test_links_of_a_dead_test_cluster_are_removed_and_others_kept(tmp_path, monkeypatch):
    etc = tmp_path / "etc"
    etc.mkdir()
    monkeypatch.setattr(slurm_cluster, "SLURM_ETC", etc)
    monkeypatch.setattr(slurm_cluster.tempfile, "gettempdir", lambda: str(tmp_path))
    dead = _cluster_dir(tmp_path, pid=2**22 + 7)  # above Linux's pid_max: never a live process
    live = _cluster_dir(tmp_path, pid=os.getpid())
    (etc / "slurm.conf").symlink_to(dead / "slurm.conf")
    (etc / "gres.conf").symlink_to(tmp_path / "gone" / "gres.conf")
    (etc / "slurmdbd.conf").symlink_to(live / "slurm.conf")

    slurm_cluster.remove_stale_links()

    assert sorted(path.name for path in etc.iterdir()) == ["slurmdbd.conf"]

    (etc / "slurmdbd.conf").unlink()
    (etc / "slurm.conf").write_text("ClusterName=site\n")
    slurm_cluster.remove_stale_links()
    assert (etc / "slurm.conf").read_text() == "ClusterName=site\n"
