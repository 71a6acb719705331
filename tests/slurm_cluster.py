"""A single-node SLURM cluster from Debian's packages, for tests.

munged, MariaDB, slurmdbd, slurmctld and slurmd run from a temporary directory on
free ports; only /etc/slurm holds links to the generated files, because the job-step
plugin drops SLURM_CONF and `srun` inside a job reads /etc/slurm/slurm.conf. The node
advertises one fake GPU (`File=/dev/null`) so `--gpus` requests schedule on a machine
without one, and more CPUs and memory than it has (`config_overrides`) so the
production profile's requests fit. `stop()` ends every daemon it started, by PID.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

PACKAGES = ["slurm-wlm", "munge", "slurmdbd", "mariadb-server"]
DAEMONS = ["slurmctld", "slurmd", "slurmdbd", "munged", "mariadbd", "sacct", "sbatch"]
SLURM_ETC = Path("/etc/slurm")
CONFIG_FILES = ("slurm.conf", "gres.conf", "slurmdbd.conf")
# Smaller than the 32,000 MB the embed rule asks for first: the workflow must cap its requests.
NODE_MEMORY_MB = 24000
DB_PASSWORD = "synesthesia-test"
# Beside the generated files: the test process that owns the cluster, and the daemons it started.
OWNER_PID = "owner.pid"
DAEMON_PIDS = "daemons.pid"


class ClusterUnavailable(RuntimeError):
    """Raised when the packages cannot be installed or a daemon does not come up."""


def missing_binaries() -> list[str]:
    return [name for name in DAEMONS if not shutil.which(name) and not Path("/usr/sbin", name).exists()]


def install_packages() -> None:
    """apt-get the packages when they are missing; ClusterUnavailable says why it could not."""
    if not missing_binaries():
        return
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        raise ClusterUnavailable(f"{', '.join(missing_binaries())} missing and apt-get needs root")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "update", "-qq"],
                    ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *PACKAGES]):
        result = subprocess.run(command, env=env, capture_output=True, text=True)
        if result.returncode:
            raise ClusterUnavailable(f"{' '.join(command)} failed: {result.stderr.strip()[-500:]}")


def _pid_alive(pid: int) -> bool:
    """True while ``pid`` runs; a zombie (exited, not yet reaped) counts as gone."""
    try:
        os.kill(pid, 0)
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def _is_alive(pid_file: Path) -> bool:
    try:
        return _pid_alive(int(pid_file.read_text().split()[0]))
    except (OSError, ValueError, IndexError):
        return False


def _stop_orphaned_daemons(root: Path) -> None:
    """SIGTERM, then SIGKILL, the daemons a cluster in ``root`` started, once their test run is gone."""
    pids = [int(pid) for pid in (root / DAEMON_PIDS).read_text().split()] if (root / DAEMON_PIDS).exists() else []
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in pids:
            try:
                os.kill(pid, sig)
            except OSError:
                continue
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(_pid_alive(pid) for pid in pids):
            time.sleep(0.2)


def remove_stale_links() -> None:
    """Unlink /etc/slurm links left by a test cluster whose run was killed before stop(), and stop
    the daemons that run outlived.

    A link is this fixture's when it points into the temporary directory at a slurm.conf
    naming the `synesthesia` cluster (or at nothing any more); it is stale when the test run
    that started that cluster (OWNER_PID) no longer runs. Any other configuration is left alone.
    """
    temp_root = Path(tempfile.gettempdir()).resolve()
    for name in CONFIG_FILES:
        link = SLURM_ETC / name
        if not link.is_symlink():
            continue
        target = Path(os.readlink(link))
        if temp_root not in target.parents:
            continue
        conf = target.parent / "slurm.conf"
        ours = not target.exists() or (conf.exists() and "ClusterName=synesthesia\n" in conf.read_text())
        if ours and not _is_alive(target.parent / OWNER_PID):
            _stop_orphaned_daemons(target.parent)
            link.unlink()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _sbin(name: str) -> str:
    return shutil.which(name) or f"/usr/sbin/{name}"


class SlurmCluster:
    def __init__(self, root: Path, accounting: bool = True):
        self.root = Path(root)
        self.accounting = accounting
        self.host = socket.gethostname().split(".")[0]
        self.processes: list[tuple[str, subprocess.Popen]] = []
        self.linked: list[Path] = []
        # munged runs as the `munge` user, which cannot enter pytest's private (0700) tmp dirs.
        self.munge_dir = Path(tempfile.mkdtemp(prefix="synesthesia-munge-"))
        self.munge_socket = self.munge_dir / "munge.socket"
        self.mysql_socket = self.root / "mysql.sock"
        self.ports = {name: _free_port() for name in ("slurmctld", "slurmd", "slurmdbd", "mysql")}

    # -- lifecycle ---------------------------------------------------------------------

    def start(self) -> "SlurmCluster":
        remove_stale_links()
        if any((SLURM_ETC / name).exists() for name in CONFIG_FILES):
            raise ClusterUnavailable(f"{SLURM_ETC} already holds a SLURM configuration; not touching it")
        (self.root / OWNER_PID).write_text(f"{os.getpid()}\n")
        try:
            self._start_munge()
            if self.accounting:
                self._start_mariadb()
            self._write_configs()
            if self.accounting:
                self._spawn("slurmdbd", [_sbin("slurmdbd"), "-D"])
                self._wait(lambda: self._run(["sacctmgr", "-n", "list", "cluster"]).returncode == 0, "slurmdbd")
            self._spawn("slurmctld", [_sbin("slurmctld"), "-D", "-i"])
            self._spawn("slurmd", [_sbin("slurmd"), "-D"])
            self._wait(self._node_idle, "the node to become idle")
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        for _name, process in reversed(self.processes):
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
        self.processes.clear()
        for link in self.linked:
            link.unlink(missing_ok=True)
        self.linked.clear()
        shutil.rmtree(self.munge_dir, ignore_errors=True)

    def running_pids(self) -> list[int]:
        return [process.pid for _, process in self.processes if process.poll() is None]

    # -- daemons -----------------------------------------------------------------------

    def _spawn(self, name: str, command: list[str], user: str | None = None) -> None:
        log = open(self.root / f"{name}.out", "ab")
        prefix = ["runuser", "-u", user, "--"] if user else []
        process = subprocess.Popen(prefix + command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self.processes.append((name, process))
        with open(self.root / DAEMON_PIDS, "a") as pids:
            pids.write(f"{process.pid}\n")

    def _wait(self, ready, what: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if ready():
                return
            for name, process in self.processes:
                if process.poll() is not None:
                    raise ClusterUnavailable(f"{name} exited ({process.returncode}) while waiting for {what}: "
                                             f"{self.log_tail(name)}")
            time.sleep(0.5)
        raise ClusterUnavailable(f"timed out waiting for {what}")

    def log_tail(self, name: str, lines: int = 20) -> str:
        texts = []
        for path in (self.root / f"{name}.out", self.root / f"{name}.log"):
            if path.exists():
                texts.append("\n".join(path.read_text(errors="replace").splitlines()[-lines:]))
        return "\n".join(texts)

    def _start_munge(self) -> None:
        munge_dir = self.munge_dir
        key = munge_dir / "munge.key"
        key.write_bytes(os.urandom(1024))
        key.chmod(0o400)
        munge = pwd.getpwnam("munge")
        for path in (munge_dir, key):
            os.chown(path, munge.pw_uid, munge.pw_gid)
        munge_dir.chmod(0o755)
        self._spawn("munged", [_sbin("munged"), "-F", "--force", f"--key-file={key}",
                               f"--socket={self.munge_socket}", f"--pid-file={munge_dir / 'munged.pid'}",
                               f"--seed-file={munge_dir / 'munged.seed'}", f"--log-file={munge_dir / 'munged.log'}"],
                    user="munge")
        self._wait(self.munge_socket.exists, "munged's socket")

    def _start_mariadb(self) -> None:
        datadir = self.root / "mysql"
        result = self._run(["mariadb-install-db", f"--datadir={datadir}", "--user=root",
                            "--auth-root-authentication-method=socket"])
        if result.returncode:
            raise ClusterUnavailable(f"mariadb-install-db failed: {result.stderr[-500:]}")
        self._spawn("mariadbd", [_sbin("mariadbd"), "--no-defaults", f"--datadir={datadir}", "--user=root",
                                 f"--socket={self.mysql_socket}", f"--port={self.ports['mysql']}",
                                 "--bind-address=127.0.0.1", f"--pid-file={self.root / 'mariadbd.pid'}"])
        self._wait(self.mysql_socket.exists, "MariaDB's socket")
        grant = (f"CREATE USER 'slurm'@'127.0.0.1' IDENTIFIED BY '{DB_PASSWORD}'; "
                 "GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';")
        self._wait(lambda: self._run(["mariadb", "--no-defaults", "-S", str(self.mysql_socket), "-e", grant])
                   .returncode == 0, "MariaDB to accept the slurm user")

    # -- configuration ------------------------------------------------------------------

    def _write_configs(self) -> None:
        for sub in ("state", "spool"):
            (self.root / sub).mkdir()
        files = {
            "slurm.conf": self._slurm_conf(),
            "gres.conf": f"AutoDetect=off\nNodeName={self.host} Name=gpu Type=fake Count=1 File=/dev/null\n",
        }
        if self.accounting:
            files["slurmdbd.conf"] = self._slurmdbd_conf()
        SLURM_ETC.mkdir(parents=True, exist_ok=True)
        for name, text in files.items():
            path = self.root / name
            path.write_text(text)
            path.chmod(0o600)
            link = SLURM_ETC / name
            link.symlink_to(path)
            self.linked.append(link)

    def _slurm_conf(self) -> str:
        r = self.root
        return f"""\
ClusterName=synesthesia
SlurmctldHost={self.host}(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket={self.munge_socket}
CredType=cred/munge
SlurmctldPort={self.ports['slurmctld']}
SlurmdPort={self.ports['slurmd']}
StateSaveLocation={r / 'state'}
SlurmdSpoolDir={r / 'spool'}
SlurmctldPidFile={r / 'slurmctld.pid'}
SlurmdPidFile={r / 'slurmd.pid'}
SlurmctldLogFile={r / 'slurmctld.log'}
SlurmdLogFile={r / 'slurmd.log'}
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SlurmdParameters=config_overrides
ReturnToService=2
MinJobAge=300
MpiDefault=none
GresTypes=gpu
JobAcctGatherType=jobacct_gather/none
{self._accounting_conf()}NodeName={self.host} NodeAddr=127.0.0.1 CPUs=4 RealMemory={NODE_MEMORY_MB} \
Gres=gpu:fake:1 State=UNKNOWN
PartitionName=cpu Nodes={self.host} Default=YES MaxTime=INFINITE State=UP
PartitionName=gpu Nodes={self.host} MaxTime=INFINITE State=UP
"""

    def _accounting_conf(self) -> str:
        if not self.accounting:
            return "AccountingStorageType=accounting_storage/none\n"
        return f"""\
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=127.0.0.1
AccountingStoragePort={self.ports['slurmdbd']}
AccountingStoragePass={self.munge_socket}
AccountingStorageTRES=gres/gpu
AccountingStoreFlags=job_comment
"""

    def _slurmdbd_conf(self) -> str:
        return f"""\
AuthType=auth/munge
AuthInfo=socket={self.munge_socket}
DbdHost={self.host}
DbdAddr=127.0.0.1
DbdPort={self.ports['slurmdbd']}
SlurmUser=root
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort={self.ports['mysql']}
StorageUser=slurm
StoragePass={DB_PASSWORD}
StorageLoc=slurm_acct_db
PidFile={self.root / 'slurmdbd.pid'}
LogFile={self.root / 'slurmdbd.log'}
"""

    # -- queries -----------------------------------------------------------------------

    def _run(self, command: list[str]) -> subprocess.CompletedProcess:
        return subprocess.run(command, capture_output=True, text=True)

    def _node_idle(self) -> bool:
        result = self._run(["sinfo", "-h", "-N", "-o", "%t"])
        return result.returncode == 0 and result.stdout.split() and all(
            state.rstrip("*") == "idle" for state in result.stdout.split())

    def sacct(self, *args: str) -> str:
        return self._run(["sacct", "-n", "-X", "-P", *args]).stdout


def start_or_skip(root: Path, accounting: bool = True) -> SlurmCluster:
    """A started cluster, or the calling test skipped with the reason none can be set up here."""
    import pytest

    try:
        install_packages()
    except ClusterUnavailable as reason:
        pytest.skip(f"no SLURM cluster can be set up here: {reason}")
    return SlurmCluster(root, accounting=accounting).start()
