#!/usr/bin/env python3
"""Gantry's benchmark (issue 15): gantry against every peer runtime installed, interleaved.

    bench/run.sh [-n N] [--warmup W] [--runtime NAME=PATH]... [--par-count C] [--par-jobs J]
                 [--json FILE] [--gantry PATH] [--no-peers] [--no-gpu] [--only METRICS]

Rounds: each round runs every metric once per runtime, the runtimes in an order that rotates
from round to round, so machine noise (other builds on a shared host) hits all alike. The
first W rounds (default 2) are not counted. Metrics, per runtime (wall time unless said):

  lifecycle   create + start + wait for the init to exit + delete, of a /bin/true bundle
  run         one-shot `run` of the same bundle (the runtime waits and deletes)
  exec        `exec ID /bin/true` into a running container (busybox sleep)
  parallel    C containers (default 50) created and started, J at a time (default C): total
  *.cpu       user+sys CPU of the runtime processes of that operation (wait4 rusage of every
              runtime process, plus for lifecycle the container init, which runs runtime code
              until it execs /bin/true; reaped here as PR_SET_CHILD_SUBREAPER)
  rss         create.rss: peak RSS (ru_maxrss) of a `create` process (then deleted, untimed)
  gpu8.create gantry only: create (then an untimed delete) with NVIDIA_VISIBLE_DEVICES=all
              on the fake 8-GPU host of gpu-hook/tests/fixtures/fake-env.sh (mock NVML, real
              device nodes), against gpu0.create, the same flags and bundle without a request

Prints a table (median and p90 per runtime, gantry's median over crun's) and writes JSON
(default bench/results/latest.json). Everything made (bundles, state roots, cgroups under
/gantry-bench-PID in every hierarchy, containers) is removed at the end, on error and on
Ctrl-C. crun 1.8 refuses a hybrid host with a controller on the cgroup2 mount: the bench runs in
a private mount namespace where hugetlb is bound to a v1 hierarchy (a tmpfs copy of
/sys/fs/cgroup, so the host's tree is untouched), and puts hugetlb back on cgroup2 (and in its
cgroup.subtree_control, as it was) when done.
"""

import argparse
import ctypes
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
UNIFIED = "/sys/fs/cgroup/unified"
OP_TIMEOUT = 60
PEERS = [("crun", "/usr/bin/crun"), ("runc", "/usr/sbin/runc")]
METRICS = ["lifecycle", "rss", "run", "exec", "parallel"]


class BenchError(Exception):
    pass


def log(*a):
    print(*a, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- host facts


def read(p, default=""):
    try:
        with open(p) as f:
            return f.read()
    except OSError:
        return default


def hugetlb_hierarchy():
    for line in read("/proc/cgroups").splitlines():
        f = line.split()
        if f and f[0] == "hugetlb":
            return int(f[1])
    return None


def cgroup_layout():
    if not os.path.isdir(UNIFIED) or not os.path.ismount(UNIFIED):
        if os.path.exists("/sys/fs/cgroup/cgroup.controllers"):
            return "v2 (unified)"
        return "v1 (legacy)"
    c = read(UNIFIED + "/cgroup.controllers").split()
    return "v1 hybrid (cgroup2 at %s with controllers: %s)" % (UNIFIED, " ".join(c) or "none")


def version(path):
    try:
        out = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=10)
        return (out.stdout or out.stderr).splitlines()[0].strip()
    except (OSError, IndexError, subprocess.TimeoutExpired):
        return "?"


def host_info():
    cpu = "?"
    for line in read("/proc/cpuinfo").splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    try:
        commit = subprocess.run(
            ["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True, text=True
        ).stdout.strip()
    except OSError:
        commit = "?"
    return {
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "cpu": cpu,
        "cpus": os.cpu_count(),
        "kernel": platform.release(),
        "cgroups": cgroup_layout(),
        "loadavg_start": read("/proc/loadavg").split()[:3],
        "commit": commit,
    }


# ---------------------------------------------------------------- processes


class Proc:
    """Runtime processes spawned with posix_spawn and reaped with wait4 (for the rusage)."""

    def __init__(self, errlog):
        self.errlog = errlog
        self.strays = 0

    def spawn(self, argv, env=None):
        fa = [
            (os.POSIX_SPAWN_OPEN, 0, "/dev/null", os.O_RDONLY, 0),
            (os.POSIX_SPAWN_OPEN, 1, "/dev/null", os.O_WRONLY, 0),
            (os.POSIX_SPAWN_OPEN, 2, self.errlog, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644),
        ]
        return os.posix_spawn(argv[0], argv, env or os.environ, file_actions=fa)

    def wait(self, pid, what):
        """wait4 one child: (exit code, cpu seconds, maxrss KiB)."""
        _, status, ru = os.wait4(pid, 0)
        code = os.waitstatus_to_exitcode(status)
        return code, ru.ru_utime + ru.ru_stime, ru.ru_maxrss

    def run(self, argv, what, env=None):
        """Run to completion: (seconds, cpu seconds, maxrss KiB); BenchError if it fails."""
        with open(self.errlog, "a") as f:
            f.write("== %s\n" % " ".join(argv))
        t0 = time.perf_counter()
        pid = self.spawn(argv, env)
        code, cpu, rss = self.wait(pid, what)
        dt = time.perf_counter() - t0
        if code != 0:
            raise BenchError("%s: exit %d: %s" % (what, code, self.tail()))
        return dt, cpu, rss

    def tail(self):
        lines = [ln for ln in read(self.errlog).splitlines() if ln and not ln.startswith("== ")]
        return lines[-1] if lines else "(no message)"

    def sweep(self):
        """Reap orphans reparented to this subreaper."""
        while True:
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            self.strays += 1


def wait_exit(pid):
    """Wait for a container init to exit: reap it (it is reparented here) and return its cpu
    seconds, or, if it is not a child of this process, wait until it is gone or a zombie."""
    try:
        _, _, ru = os.wait4(pid, 0)
        return ru.ru_utime + ru.ru_stime
    except ChildProcessError:
        while True:
            st = read("/proc/%d/stat" % pid)
            if not st or st.rsplit(")", 1)[1].split()[0] in ("Z", "X"):
                return 0.0
            time.sleep(0.0002)


class Timeout(Exception):
    pass


def on_alarm(sig, frm):
    raise Timeout("an operation took more than %d s" % OP_TIMEOUT)


# ---------------------------------------------------------------- bundles


def make_rootfs(d):
    for sub in ["bin", "proc", "sys", "dev", "etc", "tmp", "root"]:
        os.makedirs(os.path.join(d, sub), exist_ok=True)
    shutil.copy2("/bin/busybox", os.path.join(d, "bin/busybox"))
    applets = subprocess.run(["/bin/busybox", "--list"], capture_output=True, text=True).stdout
    for a in applets.split():
        if a != "busybox":
            os.symlink("busybox", os.path.join(d, "bin", a))
    with open(os.path.join(d, "etc/passwd"), "w") as f:
        f.write("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/sh\n")
    with open(os.path.join(d, "etc/group"), "w") as f:
        f.write("root:x:0:\nnogroup:x:65534:\n")
    os.chmod(os.path.join(d, "tmp"), 0o1777)


EXECER_C = r"""
#include <stdio.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
/* maxrss OUT ARGV...: run ARGV as a fresh fork of this small process (a child of Python would
   inherit Python's high-water mark), write its ru_maxrss (KiB) to OUT, exit with its status. */
int main(int argc, char **argv)
{
    struct rusage ru;
    int st;
    pid_t p;
    FILE *f;
    if (argc < 3)
        return 2;
    p = fork();
    if (p == 0) {
        execv(argv[2], argv + 2);
        _exit(127);
    }
    if (p < 0 || wait4(p, &st, 0, &ru) < 0)
        return 2;
    f = fopen(argv[1], "w");
    if (!f)
        return 2;
    fprintf(f, "%ld\n", ru.ru_maxrss);
    fclose(f);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}
"""


def make_maxrss(work):
    """The maxrss helper, built with gcc (static where libc.a is installed); None without gcc."""
    src, out = os.path.join(work, "maxrss.c"), os.path.join(work, "maxrss")
    with open(src, "w") as f:
        f.write(EXECER_C)
    for flags in (["-static"], []):
        try:
            if subprocess.run(["gcc", "-O2", *flags, "-o", out, src], capture_output=True).returncode == 0:
                return out
        except OSError:
            return None
    return None


def config(rootfs, args, cgroups_path, env=()):
    """The config `runc spec` writes (as ../shared/checks/lib.sh's make_bundle), ociVersion
    1.0.2 (crun 1.8 takes only 1.0.x), with an absolute rootfs shared by all bundles."""
    caps = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]
    return {
        "ociVersion": "1.0.2",
        "process": {
            "terminal": False,
            "user": {"uid": 0, "gid": 0},
            "args": args,
            "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"]
            + list(env),
            "cwd": "/",
            "capabilities": {"bounding": caps, "effective": caps, "permitted": caps},
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": True,
        },
        "root": {"path": rootfs, "readonly": True},
        "hostname": "gantry-bench",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
             "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"]},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
             "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
            {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
             "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs",
             "options": ["nosuid", "noexec", "nodev", "ro"]},
            {"destination": "/tmp", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "nodev", "mode=1777"]},
        ],
        "linux": {
            "cgroupsPath": cgroups_path,
            "resources": {"devices": [{"allow": False, "access": "rwm"}]},
            "namespaces": [{"type": t} for t in ["pid", "network", "ipc", "uts", "mount", "cgroup"]],
            "maskedPaths": ["/proc/kcore", "/proc/keys", "/proc/timer_list", "/sys/firmware"],
            "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"],
        },
    }


# ---------------------------------------------------------------- the bench


class Runtime:
    def __init__(self, name, path, work):
        self.name, self.path = name, path
        self.root = os.path.join(work, "state-" + name)
        self.extra = []  # global flags

    def argv(self, *args, extra=()):
        return [self.path, "--root", self.root, *self.extra, *extra, *args]


class Bench:
    def __init__(self, opts, work):
        self.o = opts
        self.work = work
        self.rootfs = os.path.join(work, "rootfs")
        self.cgprefix = "gantry-bench-%d" % os.getpid()
        self.p = Proc(os.path.join(work, "err.log"))
        self.seq = 0
        self.samples = {}  # metric -> runtime -> [values]
        self.skipped = {}  # row -> reason
        self.exec_ids = {}
        self.gpu = None

    def bundle(self, rt, tag, args=("/bin/true",), env=()):
        self.seq += 1
        cid = "gb%d-%s-%s-%d" % (os.getpid(), rt.name, tag, self.seq)
        b = os.path.join(self.work, "b", cid)
        os.makedirs(b)
        with open(os.path.join(b, "config.json"), "w") as f:
            json.dump(config(self.rootfs, list(args), "/%s/%s" % (self.cgprefix, cid), env), f)
        return cid, b

    def add(self, metric, rt, v):
        self.samples.setdefault(metric, {}).setdefault(rt.name, []).append(v)

    def drop_bundle(self, b):
        shutil.rmtree(b, ignore_errors=True)

    # --- one measurement each

    def lifecycle(self, rt, keep):
        cid, b = self.bundle(rt, "lc")
        pidf = os.path.join(b, "pid")
        t0 = time.perf_counter()
        _, c1, _ = self.p.run(rt.argv("create", "--bundle", b, "--pid-file", pidf, cid), rt.name + " create")
        pid = int(read(pidf).strip())
        _, c2, _ = self.p.run(rt.argv("start", cid), rt.name + " start")
        c3 = wait_exit(pid)
        _, c4, _ = self.p.run(rt.argv("delete", cid), rt.name + " delete")
        dt = time.perf_counter() - t0
        self.drop_bundle(b)
        if keep:
            self.add("lifecycle", rt, dt * 1e3)
            self.add("lifecycle.cpu", rt, (c1 + c2 + c3 + c4) * 1e3)

    def rss(self, rt, keep):
        """Peak RSS of `create`, apart from the timed lifecycle: spawned from Python, the
        runtime's ru_maxrss would be at least Python's (exec keeps the old mm's high-water
        mark, and posix_spawn's child runs on Python's mm until it execs), so it is forked
        from a small C helper that reports the wait4 ru_maxrss."""
        cid, b = self.bundle(rt, "rss")
        out = os.path.join(b, "maxrss")
        self.p.run([self.maxrss, out] + rt.argv("create", "--bundle", b, cid), rt.name + " create")
        rss = int(read(out).strip())
        force_delete(rt, cid)
        self.drop_bundle(b)
        if keep:
            self.add("create.rss", rt, rss / 1024.0)

    def run(self, rt, keep):
        cid, b = self.bundle(rt, "run")
        dt, cpu, _ = self.p.run(rt.argv("run", "--bundle", b, cid), rt.name + " run")
        self.drop_bundle(b)
        if keep:
            self.add("run", rt, dt * 1e3)
            self.add("run.cpu", rt, cpu * 1e3)

    def exec(self, rt, keep):
        dt, cpu, _ = self.p.run(rt.argv("exec", self.exec_ids[rt.name], "/bin/true"), rt.name + " exec")
        if keep:
            self.add("exec", rt, dt * 1e3)
            self.add("exec.cpu", rt, cpu * 1e3)

    def parallel(self, rt, keep):
        n, jobs = self.o.par_count, self.o.par_jobs or self.o.par_count
        made = [self.bundle(rt, "par") for _ in range(n)]
        pending = list(made)
        running = {}  # pid -> (stage, cid)
        cpu = 0.0
        failed = None
        t0 = time.perf_counter()
        while pending or running:
            while pending and len(running) < jobs and not failed:
                cid, b = pending.pop(0)
                pidf = os.path.join(b, "pid")
                running[self.p.spawn(rt.argv("create", "--bundle", b, "--pid-file", pidf, cid))] = ("create", cid, b)
            if failed and not running:
                break
            pid, status, ru = os.wait4(-1, 0)
            if pid not in running:
                self.p.strays += 1  # an init that already ran /bin/true, reparented here
                continue
            stage, cid, b = running.pop(pid)
            cpu += ru.ru_utime + ru.ru_stime
            if os.waitstatus_to_exitcode(status) != 0:
                failed = failed or "%s parallel %s: %s" % (rt.name, stage, self.p.tail())
                continue
            if stage == "create":
                running[self.p.spawn(rt.argv("start", cid))] = ("start", cid, b)
        dt = time.perf_counter() - t0
        for cid, b in made:
            if os.path.exists(os.path.join(rt.root, cid)):
                force_delete(rt, cid)
            self.drop_bundle(b)
        self.p.sweep()
        if failed:
            raise BenchError(failed)
        if keep:
            self.add("parallel", rt, dt * 1e3)
            self.add("parallel.cpu", rt, cpu * 1e3)

    def gpu_create(self, rt, keep):
        for tag, env in (("gpu8", ["NVIDIA_VISIBLE_DEVICES=all"]), ("gpu0", [])):
            cid, b = self.bundle(rt, tag, env=env)
            dt, cpu, rss = self.p.run(
                rt.argv("create", "--bundle", b, cid, extra=self.gpu), "gantry create (%s)" % tag
            )
            self.p.run(rt.argv("delete", "--force", cid), "gantry delete (%s)" % tag)
            self.drop_bundle(b)
            self.p.sweep()
            if keep:
                self.add(tag + ".create", rt, dt * 1e3)
                self.add(tag + ".create.cpu", rt, cpu * 1e3)

    # --- setup

    def setup_gpu(self, gantry):
        if self.o.no_gpu:
            self.skipped["gpu"] = "--no-gpu"
            return
        env_dir = os.path.join(self.work, "fakegpu")
        try:
            out = subprocess.run(
                [os.path.join(ROOT, "gpu-hook/tests/fixtures/fake-env.sh"), env_dir, "--nvidia", "8"],
                capture_output=True, text=True, timeout=120,
            )
        except (OSError, subprocess.TimeoutExpired) as e:
            self.skipped["gpu"] = "fake-env.sh: %s" % e
            return
        if out.returncode != 0:
            self.skipped["gpu"] = "fake-env.sh failed: %s" % (out.stderr.strip().splitlines() or ["?"])[-1]
            return
        if not os.path.exists(os.path.join(os.path.dirname(gantry.path), "gantry-gpu")):
            self.skipped["gpu"] = "no gantry-gpu next to %s (cargo build --release)" % gantry.path
            return
        self.gpu = []
        for flag, d in [("driver", "driver-root"), ("dev", "dev-root"), ("proc", "proc-root"), ("sysfs", "sysfs-root")]:
            self.gpu += ["--gpu-%s-root" % flag, os.path.join(env_dir, d)]

    def start_exec_targets(self, rts):
        for rt in rts:
            cid, b = self.bundle(rt, "exec", args=("/bin/sleep", "100000"))
            self.p.run(rt.argv("run", "--detach", "--bundle", b, cid), rt.name + " run --detach")
            self.exec_ids[rt.name] = cid

    # --- the rounds

    def go(self, rts):
        only = set(self.o.only.split(",")) if self.o.only else set(METRICS + ["gpu"])
        gantry = rts[0]
        make_rootfs(self.rootfs)
        self.maxrss = make_maxrss(self.work)
        if not self.maxrss and "rss" in only:
            only.discard("rss")
            self.skipped["create.rss"] = "no gcc to build the maxrss helper"
        if "gpu" in only:
            self.setup_gpu(gantry)
        if "exec" in only:
            self.start_exec_targets(rts)
        total = self.o.warmup + self.o.n
        for i in range(total):
            keep = i >= self.o.warmup
            order = [rts[(i + k) % len(rts)] for k in range(len(rts))]
            for m in METRICS:
                if m in only:
                    for rt in order:
                        signal.alarm(OP_TIMEOUT)
                        getattr(self, m)(rt, keep)
                        signal.alarm(0)
                        self.p.sweep()
            if "gpu" in only and self.gpu is not None:
                signal.alarm(OP_TIMEOUT)
                self.gpu_create(gantry, keep)
                signal.alarm(0)
            log("round %d/%d done%s" % (i + 1, total, "" if keep else " (warm-up, not counted)"))

    def cleanup(self, rts):
        """Every container of every state root deleted (--force), orphans reaped, cgroups
        removed. Also after an interrupt: a runtime process may still be finishing."""
        signal.alarm(0)
        time.sleep(0.3)
        self.p.sweep()
        for rt in rts:
            try:
                ids = os.listdir(rt.root)
            except OSError:
                ids = []
            for cid in ids:
                if os.path.isdir(os.path.join(rt.root, cid)):
                    force_delete(rt, cid)
        self.p.sweep()
        return remove_cgroups(self.cgprefix)


def force_delete(rt, cid):
    try:
        subprocess.run(rt.argv("delete", "--force", cid), stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, timeout=30)
    except subprocess.TimeoutExpired:
        log("bench: %s delete --force %s timed out" % (rt.name, cid))


def remove_cgroups(prefix):
    """rmdir /sys/fs/cgroup/*/PREFIX, deepest first (retrying: an init may still be exiting)."""
    for _ in range(50):
        left = False
        for h in os.listdir("/sys/fs/cgroup"):
            top = os.path.join("/sys/fs/cgroup", h, prefix)
            if not os.path.isdir(top):
                continue
            for d, subs, _ in os.walk(top, topdown=False):
                try:
                    os.rmdir(d)
                except OSError:
                    left = True
        if not left:
            return True
        time.sleep(0.1)
    return False


# ---------------------------------------------------------------- statistics and output


def p90(v):
    if len(v) == 1:
        return v[0]
    return statistics.quantiles(v, n=10, method="inclusive")[8]


UNITS = {"create.rss": "MiB"}


def report(samples, rts, skipped, host, opts):
    names = [rt.name for rt in rts]
    stats = {}
    for m, per in samples.items():
        stats[m] = {
            r: {"median": statistics.median(v), "p90": p90(v), "mean": statistics.fmean(v),
                "min": min(v), "max": max(v), "n": len(v), "samples": [round(x, 3) for x in v]}
            for r, v in per.items()
        }
    order = []
    for m in METRICS:
        order += ["create.rss"] if m == "rss" else [m, m + ".cpu"]
    order += ["gpu8.create", "gpu0.create", "gpu8.create.cpu", "gpu0.create.cpu"]
    lines = []
    head = "| metric (median / p90) |" + "".join(" %s |" % n for n in names) + " gantry/crun |"
    lines.append(head)
    lines.append("|---" * (len(names) + 2) + "|")
    for m in order:
        if m not in stats:
            continue
        unit = UNITS.get(m, "ms")
        row = "| %s (%s) |" % (m, unit)
        for n in names:
            s = stats[m].get(n)
            row += " %.2f / %.2f |" % (s["median"], s["p90"]) if s else " - |"
        g, c = stats[m].get("gantry"), stats[m].get("crun")
        row += " %.2f |" % (g["median"] / c["median"]) if g and c and c["median"] else " - |"
        lines.append(row)
    if "gpu8.create" in stats and "gpu0.create" in stats:
        d = stats["gpu8.create"]["gantry"]["median"] - stats["gpu0.create"]["gantry"]["median"]
        lines.append("")
        lines.append("gantry create with 8 jit GPUs minus without: %+.2f ms (median)" % d)
    for k, why in skipped.items():
        lines.append("skipped %s: %s" % (k, why))
    host["loadavg_end"] = read("/proc/loadavg").split()[:3]
    out = {
        "host": host,
        "runtimes": {rt.name: {"path": rt.path, "version": version(rt.path)} for rt in rts},
        "rounds": opts.n, "warmup": opts.warmup,
        "parallel": {"count": opts.par_count, "jobs": opts.par_jobs or opts.par_count},
        "skipped": skipped,
        "metrics": stats,
        "table": lines,
    }
    return out


# ---------------------------------------------------------------- namespace and host state


def bind_hugetlb_v1():
    """In this (private) mount namespace: a tmpfs copy of /sys/fs/cgroup with hugetlb bound to
    a v1 hierarchy. Returns None, or why not."""
    subprocess.run(["mount", "--make-rprivate", "/"], check=True)
    t = tempfile.mkdtemp(prefix="gantry-bench-cg.")
    try:
        subprocess.run(["mount", "-t", "tmpfs", "-o", "mode=755", "tmpfs", t], check=True)
        for h in sorted(os.listdir("/sys/fs/cgroup")):
            src = os.path.join("/sys/fs/cgroup", h)
            if os.path.ismount(src):
                os.mkdir(os.path.join(t, h))
                subprocess.run(["mount", "--bind", src, os.path.join(t, h)], check=True)
        os.mkdir(os.path.join(t, "hugetlb"))
        r = subprocess.run(["mount", "-t", "cgroup", "-o", "hugetlb", "cgroup", t + "/hugetlb"],
                           capture_output=True, text=True)
        if r.returncode != 0:
            subprocess.run(["umount", "-R", t])
            return "cannot bind hugetlb to cgroup v1: %s" % r.stderr.strip()
        # Detach the original tree (in this namespace only) first: overmounted, it would still
        # be listed in mountinfo, each controller twice.
        subprocess.run(["umount", "-l", "/sys/fs/cgroup"], check=True)
        subprocess.run(["mount", "--move", t, "/sys/fs/cgroup"], check=True)
    finally:
        os.rmdir(t)
    if read(UNIFIED + "/cgroup.controllers").split():
        return "the cgroup2 mount still has controllers: %s" % read(UNIFIED + "/cgroup.controllers").strip()
    return None


def crun_needs_v1_hugetlb():
    return os.path.ismount(UNIFIED) and bool(read(UNIFIED + "/cgroup.controllers").split())


def restore_hugetlb(before_subtree, prefix):
    """After the namespace is gone: hugetlb back on the cgroup2 mount and in its
    cgroup.subtree_control as before. The kernel frees an unmounted v1 hierarchy only once it
    has no child cgroup; a remount, rmdir and umount does it if needed."""
    for i in range(40):
        if hugetlb_hierarchy() == 0:
            break
        if i % 4 == 3:
            subprocess.run(
                ["unshare", "-m", "sh", "-c",
                 'mount --make-rprivate / && d=$(mktemp -d) && mount -t cgroup -o hugetlb cgroup "$d" && '
                 '{ [ ! -d "$d/%s" ] || find "$d/%s" -depth -type d -exec rmdir {} \\; ; umount "$d"; }; rmdir "$d"'
                 % (prefix, prefix)],
                stderr=subprocess.DEVNULL)
        time.sleep(0.25)
    if hugetlb_hierarchy() != 0:
        log("bench: WARNING: hugetlb is still bound to a v1 hierarchy (see /proc/cgroups)")
        return False
    if "hugetlb" in before_subtree and "hugetlb" not in read(UNIFIED + "/cgroup.subtree_control").split():
        with open(UNIFIED + "/cgroup.subtree_control", "w") as f:
            f.write("+hugetlb")
    return True


# ---------------------------------------------------------------- main


def parse():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", type=int, default=50, help="counted rounds (default 50)")
    ap.add_argument("--warmup", type=int, default=2, help="uncounted rounds first (default 2)")
    ap.add_argument("--runtime", action="append", default=[], metavar="NAME=PATH",
                    help="another runtime to compare (runc's command line), repeatable")
    ap.add_argument("--gantry", default=os.path.join(ROOT, "target/release/gantry"))
    ap.add_argument("--no-peers", action="store_true", help="do not add crun and runc")
    ap.add_argument("--no-gpu", action="store_true", help="skip the GPU rows")
    ap.add_argument("--par-count", type=int, default=50, help="containers in the parallel metric")
    ap.add_argument("--par-jobs", type=int, default=0, help="how many at a time (default all)")
    ap.add_argument("--only", default="", help="comma-separated: lifecycle,rss,run,exec,parallel,gpu")
    ap.add_argument("--json", default=os.path.join(HERE, "results/latest.json"))
    ap.add_argument("--inner", action="store_true", help=argparse.SUPPRESS)
    o = ap.parse_args()
    if o.n < 1 or o.warmup < 0 or o.par_count < 1 or o.par_jobs < 0:
        ap.error("bad -n, --warmup, --par-count or --par-jobs")
    return o


def runtimes(o, work):
    rts = [Runtime("gantry", os.path.abspath(o.gantry), work)]
    if not os.access(rts[0].path, os.X_OK):
        raise BenchError("no gantry at %s (cargo build --release)" % rts[0].path)
    if not o.no_peers:
        rts += [Runtime(n, p, work) for n, p in PEERS if os.access(p, os.X_OK)]
    for spec in o.runtime:
        name, sep, path = spec.partition("=")
        if not sep or not name or not os.access(path, os.X_OK):
            raise BenchError("--runtime %s: want NAME=PATH of an executable" % spec)
        if name in [r.name for r in rts]:
            raise BenchError("--runtime %s: the name %s is taken" % (spec, name))
        rts.append(Runtime(name, os.path.abspath(path), work))
    return rts


def inner(o):
    """In the private mount namespace: the bench itself."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
    signal.signal(signal.SIGALRM, on_alarm)
    signal.signal(signal.SIGTERM, lambda s, f: (_ for _ in ()).throw(KeyboardInterrupt()))
    work = tempfile.mkdtemp(prefix="gantry-bench.")
    host = host_info()
    rts = []
    every = []
    b = None
    code = 0
    try:
        rts = runtimes(o, work)
        every = list(rts)
        b = Bench(o, work)
        skipped = {}
        if any(r.name == "crun" for r in rts) and crun_needs_v1_hugetlb():
            why = bind_hugetlb_v1()
            if why:
                rts = [r for r in rts if r.name != "crun"]
                skipped["crun"] = why + " (crun 1.8 refuses a hybrid host with a controller on cgroup2)"
            else:
                host["note"] = "hugetlb bound to cgroup v1 for the run (private mount namespace), for crun"
        b.skipped.update(skipped)
        b.go(rts)
        out = report(b.samples, rts, b.skipped, host, o)
        out["host"]["stray_reaped"] = b.p.strays
        os.makedirs(os.path.dirname(os.path.abspath(o.json)), exist_ok=True)
        with open(o.json, "w") as f:
            json.dump(out, f, indent=1)
        print("\n".join(out["table"]))
        print("\nhost: %s, %s CPUs, kernel %s, cgroups %s; load average %s at start, %s at end"
              % (host["cpu"], host["cpus"], host["kernel"], host["cgroups"],
                 " ".join(host["loadavg_start"]), " ".join(host["loadavg_end"])))
        print("versions: " + "; ".join("%s %s" % (n, v["version"]) for n, v in out["runtimes"].items()))
        print("JSON: %s" % o.json)
    except KeyboardInterrupt:
        log("bench: interrupted, cleaning up")
        code = 130
    except (BenchError, Timeout, OSError, subprocess.CalledProcessError) as e:
        log("bench: FAIL: %s" % e)
        code = 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if b is not None:
            try:
                if not b.cleanup(every):
                    log("bench: cgroups left under /sys/fs/cgroup/*/%s" % b.cgprefix)
                    code = code or 1
            except Exception as e:  # noqa: BLE001 - cleanup must go on
                log("bench: cleanup: %s" % e)
                code = code or 1
        if os.path.ismount("/sys/fs/cgroup/hugetlb"):
            subprocess.run(["umount", "/sys/fs/cgroup/hugetlb"], stderr=subprocess.DEVNULL)
        shutil.rmtree(work, ignore_errors=True)
    return code


def main():
    o = parse()
    if os.geteuid() != 0:
        sys.exit("bench: needs root")
    if o.inner:
        sys.exit(inner(o))
    # The host side: run the bench in a private mount namespace, then check the host is as
    # before (hugetlb on cgroup2, cgroups gone), also after a Ctrl-C or a killed bench.
    before_subtree = read(UNIFIED + "/cgroup.subtree_control").split()
    before_hier = hugetlb_hierarchy()
    child = subprocess.Popen(["unshare", "-m", sys.executable, os.path.abspath(__file__), "--inner"] + sys.argv[1:])
    signal.signal(signal.SIGTERM, lambda s, f: child.send_signal(signal.SIGTERM))
    while True:
        try:
            code = child.wait()
            break
        except KeyboardInterrupt:
            continue  # the child got the SIGINT too and cleans up
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    prefix = "gantry-bench-%d" % child.pid
    if code < 0:
        code = 128 - code
    if not remove_cgroups(prefix):
        log("bench: WARNING: cgroups left under /sys/fs/cgroup/*/%s" % prefix)
        code = code or 1
    if before_hier == 0 and not restore_hugetlb(before_subtree, prefix):
        code = code or 1
    sys.exit(code)


if __name__ == "__main__":
    main()
