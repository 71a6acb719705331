"""The test cluster recovers from a run killed before it could unlink its /etc/slurm links."""

import os
import signal
import subprocess

import slurm_cluster


def _cluster_dir(tmp_path, owner: int, daemons=()):
    root = tmp_path / f"cluster-{owner}"
    root.mkdir()
    (root / "slurm.conf").write_text("ClusterName=synesthesia\nSlurmUser=root\n")
    (root / slurm_cluster.OWNER_PID).write_text(f"{owner}\n")
    (root / slurm_cluster.DAEMON_PIDS).write_text("".join(f"{pid}\n" for pid in daemons))
    return root


def test_links_of_a_dead_test_cluster_are_removed_and_others_kept(tmp_path, monkeypatch):
    etc = tmp_path / "etc"
    etc.mkdir()
    monkeypatch.setattr(slurm_cluster, "SLURM_ETC", etc)
    monkeypatch.setattr(slurm_cluster.tempfile, "gettempdir", lambda: str(tmp_path))
    orphan = subprocess.Popen(["sleep", "600"])  # a daemon that outlived its test run
    dead = _cluster_dir(tmp_path, owner=2**22 + 7, daemons=[orphan.pid])  # above any pid_max: never alive
    live = _cluster_dir(tmp_path, owner=os.getpid())
    (etc / "slurm.conf").symlink_to(dead / "slurm.conf")
    (etc / "gres.conf").symlink_to(tmp_path / "gone" / "gres.conf")
    (etc / "slurmdbd.conf").symlink_to(live / "slurm.conf")

    slurm_cluster.remove_stale_links()

    assert sorted(path.name for path in etc.iterdir()) == ["slurmdbd.conf"]
    assert orphan.wait(timeout=10) == -signal.SIGTERM

    (etc / "slurmdbd.conf").unlink()
    (etc / "slurm.conf").write_text("ClusterName=site\n")
    slurm_cluster.remove_stale_links()
    assert (etc / "slurm.conf").read_text() == "ClusterName=site\n"
