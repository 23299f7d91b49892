"""Notebook kernels forked from one process that has already imported the notebooks' packages.

Every kernel of a build imports the same stack before its first result (pandas, SciPy,
scikit-learn, statsmodels, matplotlib, seaborn, nilearn and this project's package): about 4 s of
one core per kernel on the 2-core machines the build is measured on, i.e. 35-45 s of work for the
nine kernels of a cold ``make book`` and as much again for the notebooks ``make test`` runs on
other data. A *kernel server* imports them once; each kernel is then a ``fork`` of it that starts
ipykernel exactly as ``python -m ipykernel_launcher -f CONNECTION_FILE`` would, in the caller's
working directory, with the caller's environment and standard streams. Forked kernels share the
imported pages copy-on-write, so the build also occupies less memory.

How it fits together:

* :func:`running` (used by :func:`tools.bookbuild.execute_all` and
  :func:`~tools.bookbuild.execute_each`) creates the listening socket, starts the server with it and
  sets :data:`SERVER_ENV` for the processes that start kernels; it stops the server afterwards.
* :class:`ForkingKernelManager` (the kernel manager of :func:`tools.bookbuild.execute_notebook`)
  replaces the standard Python kernel's command by this file's *client* when :data:`SERVER_ENV`
  is set. The client is what jupyter_client starts, signals and waits for: it hands its
  environment, working directory and standard streams to the server, forwards signals to the
  kernel and exits with the kernel's exit status. A kernel whose client disappears (killed) exits.
* A fresh kernel is started instead -- the client replaces itself with the standard command --
  when there is no server, it does not answer, or the caller's environment differs from the
  server's in a variable that is read when packages are imported (:data:`IMPORT_TIME_ENV`: BLAS
  threads, matplotlib's backend, Python's hash seed and path). A forked kernel therefore runs the
  same code with the same settings as a fresh one; what it does not repeat is the imports (their
  import-time warnings are not shown again in each notebook).

The server only forks while it is single-threaded (no imported package may have started a
thread), and each kernel draws new random seeds for Python's and NumPy's global generators, as a
fresh process would.

Command line (internal): ``python tools/kernelserver.py serve FD`` and
``python -I -S tools/kernelserver.py client SOCKET -f CONNECTION_FILE``.
"""

from __future__ import annotations

import os
import signal
import socket
import sys

#: Environment variable naming the server's socket for the processes that start kernels.
SERVER_ENV = "BRAINCLOCK_KERNEL_SERVER"
#: Variables read when packages are imported: a kernel is forked only if the caller's values equal
#: the server's (else it starts fresh), so a fork never runs with settings the caller did not ask for.
IMPORT_TIME_ENV = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "MPLBACKEND",
                   "PYTHONHASHSEED", "PYTHONPATH", "VIRTUAL_ENV", "JUPYTER_PATH", "IPYTHONDIR",
                   "MPLCONFIGDIR")
#: What the notebooks import (``analysis`` defers nilearn's plotting and a few rarely used
#: packages to the figures that need them; those a kernel still imports itself).
PRELOAD = ("numpy", "pandas", "scipy.stats", "statsmodels.api", "sklearn.linear_model",
           "matplotlib.pyplot", "seaborn", "analysis.report", "analysis.figures", "analysis.trial_analysis",
           "analysis.open_data", "analysis.patterns", "analysis.simstudy", "analysis.simstudy.full",
           "ipykernel.kernelapp", "ipykernel.ipkernel", "matplotlib_inline.backend_inline")
#: Signals the client passes on to its kernel (SIGKILL cannot be: the kernel then sees its client
#: vanish and exits).
FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2)
_LAUNCHER = ("-m", "ipykernel_launcher")
_MESSAGE = 1 << 20


def _pidfds() -> bool:
    """Whether this system has process file descriptors (Linux >= 5.3), which client and kernel watch."""
    if not (hasattr(os, "fork") and hasattr(os, "pidfd_open")):
        return False
    try:
        os.close(os.pidfd_open(os.getpid()))
    except OSError:
        return False
    return True


# --- the process that starts kernels --------------------------------------------------------------
class _Running:
    def __init__(self, process, path: str, directory: str, previous: str | None):
        self.process, self.path, self._directory, self._previous = process, path, directory, previous

    def stop(self) -> None:
        import shutil

        if self._previous is None:
            os.environ.pop(SERVER_ENV, None)
        else:
            os.environ[SERVER_ENV] = self._previous
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except Exception:  # noqa: BLE001 - it must not outlive the build
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self._directory, ignore_errors=True)


def start() -> _Running:
    """Start a kernel server for this process and the processes it starts (sets :data:`SERVER_ENV`).

    The socket listens before the server has imported anything: a kernel asked for meanwhile
    waits for the imports (it would have done them itself), none is refused.
    """
    import subprocess
    import tempfile

    directory = tempfile.mkdtemp(prefix="brainclock-kernels-")
    path = os.path.join(directory, "server.sock")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    listener.bind(path)
    listener.listen(64)
    try:
        process = subprocess.Popen([sys.executable, os.path.abspath(__file__), "serve", str(listener.fileno())],
                                   pass_fds=[listener.fileno()], stdin=subprocess.DEVNULL)
    finally:
        listener.close()  # the server holds it now: if the server dies, clients are refused
    previous = os.environ.get(SERVER_ENV)
    os.environ[SERVER_ENV] = path
    return _Running(process, path, directory, previous)


class running:  # noqa: N801 - used as a context manager, like open()
    """``with running(): ...`` -- kernels started inside are forked from one server (see module doc).

    ``enabled=False`` (or the environment variable ``BRAINCLOCK_FORK_KERNELS=0``) starts none:
    every kernel is then a fresh process. Inside another ``running()`` (:data:`SERVER_ENV` names a
    socket that exists) the running server is used and none is started.
    """

    def __init__(self, enabled: bool = True):
        self.enabled = (enabled and os.environ.get("BRAINCLOCK_FORK_KERNELS", "1") != "0" and _pidfds()
                        and not os.path.exists(os.environ.get(SERVER_ENV) or "/nonexistent"))
        self.server: _Running | None = None

    def __enter__(self) -> _Running | None:
        if self.enabled:
            self.server = start()
        return self.server

    def __exit__(self, *exc) -> None:
        if self.server is not None:
            self.server.stop()


def kernel_manager_class():
    """:class:`ForkingKernelManager` (defined on first use: jupyter_client is imported then)."""
    global ForkingKernelManager  # noqa: PLW0603
    if "ForkingKernelManager" not in globals():
        from jupyter_client.manager import AsyncKernelManager

        class ForkingKernelManager(AsyncKernelManager):
            """The standard kernel manager; the standard Python kernel is forked when a server runs."""

            def format_kernel_cmd(self, extra_arguments=None):
                cmd = super().format_kernel_cmd(extra_arguments)
                server = os.environ.get(SERVER_ENV)
                if server and tuple(cmd[1:3]) == _LAUNCHER and os.path.realpath(cmd[0]) == os.path.realpath(sys.executable):
                    return [sys.executable, "-I", "-S", os.path.abspath(__file__), "client", server, *cmd[3:]]
                return cmd

        globals()["ForkingKernelManager"] = ForkingKernelManager
    return globals()["ForkingKernelManager"]


# --- the client: what jupyter_client starts ------------------------------------------------------
def client(path: str, arguments: list[str]) -> int:
    """Have the server fork a kernel with ``arguments``; relay signals; return its exit status.

    Falls back to ``python -m ipykernel_launcher ARGUMENTS`` (this process becomes the kernel)
    when the server cannot be reached or declines.
    """
    import json
    import select

    request = {"argv": list(arguments), "cwd": os.getcwd(), "env": dict(os.environ), "client": os.getpid()}
    try:
        conn = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        conn.connect(path)
        socket.send_fds(conn, [json.dumps(request).encode()], [0, 1, 2])
        reply = conn.recv(256).decode()
        if not reply.startswith("pid "):
            raise OSError(reply or "the kernel server closed the connection")
        pid = int(reply.split()[1])
    except (OSError, ValueError):
        os.execv(sys.executable, [sys.executable, *_LAUNCHER, *arguments])
    kernel = os.pidfd_open(pid)

    def forward(signum, _frame):
        try:
            signal.pidfd_send_signal(kernel, signum)
        except ProcessLookupError:
            pass

    for signum in FORWARDED:
        signal.signal(signum, forward)
    select.select([kernel], [], [])  # until the kernel exits (retried after each forwarded signal)
    conn.setblocking(False)
    try:
        status = conn.recv(256).decode()
    except OSError:
        status = ""
    return int(status.split()[1]) if status.startswith("exit ") else 1


# --- the server ------------------------------------------------------------------------------------
def _preload() -> None:
    import importlib
    import warnings

    if not os.environ.get("MPLBACKEND"):  # what ipykernel sets before any user code runs
        os.environ["MPLBACKEND"] = "module://matplotlib_inline.backend_inline"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name in PRELOAD:
            try:
                importlib.import_module(name)
            except Exception as err:  # noqa: BLE001 - the kernel that needs it reports it
                print(f"kernel server: could not preload {name}: {type(err).__name__}: {err}", file=sys.stderr)


def _decline(request: dict, baseline: dict) -> str | None:
    import threading

    if threading.active_count() != 1:
        return "the server is not single-threaded"
    for name in IMPORT_TIME_ENV:
        if request["env"].get(name) != baseline.get(name):
            return f"{name} differs from the server's"
    if len(request["argv"]) < 2 or request["argv"][0] != "-f":
        return "not a kernel command line (-f CONNECTION_FILE ...)"
    return None


def serve(fd: int) -> None:
    """Import :data:`PRELOAD`, then fork a kernel for each client until terminated."""
    import json

    listener = socket.socket(fileno=fd)
    baseline = dict(os.environ)
    _preload()
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # kernels are reaped by the system
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    name_process("kernelserver")
    while True:
        conn, _ = listener.accept()
        fds: list[int] = []
        try:
            data, fds, _flags, _addr = socket.recv_fds(conn, _MESSAGE, 3)
            request = json.loads(data)
            reason = _decline(request, baseline) if len(fds) == 3 else "no standard streams received"
            if reason is not None:
                conn.send(f"no {reason}".encode())
                continue
            sys.stdout.flush()
            sys.stderr.flush()
            if os.fork() == 0:
                status = 1
                try:
                    listener.close()
                    status = _kernel(conn, request, fds)
                finally:
                    os._exit(status)
        except Exception as err:  # noqa: BLE001 - one bad request must not stop the server
            try:
                conn.send(f"no {type(err).__name__}: {err}".encode())
            except OSError:
                pass
        finally:
            for f in fds:
                os.close(f)
            conn.close()


def _watch(client_pid: int) -> None:
    """Exit when the client is gone (it was killed: nothing else is waiting for this kernel)."""
    import select
    import threading

    client = os.pidfd_open(client_pid)

    def wait():
        select.select([client], [], [])
        os._exit(1)

    threading.Thread(target=wait, name="client-watch", daemon=True).start()


def _kernel(conn: socket.socket, request: dict, fds: list[int]) -> int:
    """In the forked child: become ``python -m ipykernel_launcher ARGV`` for the client."""
    import atexit
    import random
    import runpy

    for target, f in enumerate(fds):
        os.dup2(f, target)
    for signum in (signal.SIGCHLD, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2):
        signal.signal(signum, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    name_process(request["env"].get("BRAINCLOCK_TASK", "kernel"))  # tools.products.TASK_ENV
    random.seed()
    if "numpy" in sys.modules:
        sys.modules["numpy"].random.seed()
    _watch(int(request["client"]))
    conn.send(f"pid {os.getpid()}".encode())
    if sys.path and os.path.realpath(sys.path[0]) == os.path.dirname(os.path.realpath(__file__)):
        del sys.path[0]  # this script's folder, which a kernel's path does not have
    sys.argv = ["ipykernel_launcher", *request["argv"]]
    from ipykernel.kernelapp import IPKernelApp

    # its default is read from the environment when ipykernel is imported (here: by the server);
    # a fresh kernel has its caller's value (without it, ipykernel prints a console banner)
    parent = int(os.environ.get("JPY_PARENT_PID") or 0)
    IPKernelApp.parent_handle.default_value = parent
    if "parent_handle" in getattr(IPKernelApp, "_static_immutable_initial_values", {}):
        IPKernelApp._static_immutable_initial_values["parent_handle"] = parent
    status = 0
    try:
        runpy.run_module("ipykernel_launcher", run_name="__main__", alter_sys=True)
    except SystemExit as exit_:
        status = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
    except BaseException:  # noqa: BLE001 - reported like an uncaught exception of a fresh kernel
        import traceback

        traceback.print_exc()
        status = 1
    try:
        atexit._run_exitfuncs()
        sys.stdout.flush()
        sys.stderr.flush()
    finally:
        try:
            conn.send(f"exit {status}".encode())
        except OSError:
            pass
    return status


def name_process(task: str) -> None:
    """Show ``task`` as this process's name (``/proc/self/comm``; the build benchmark reads it)."""
    try:
        with open("/proc/self/comm", "w") as comm:
            comm.write(task[:15])
    except OSError:
        pass


def main(argv: list[str]) -> int:
    if argv[:1] == ["serve"] and len(argv) == 2:
        serve(int(argv[1]))
        return 0
    if argv[:1] == ["client"] and len(argv) >= 2:
        return client(argv[1], argv[2:])
    print(__doc__.strip().splitlines()[-2], file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
