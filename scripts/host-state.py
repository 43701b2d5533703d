#!/usr/bin/env python3
"""What the tests could leave behind on the host, and a comparison of two such records.

    host-state.py record FILE      write this host's state to FILE (JSON)
    host-state.py compare FILE     compare the host now with FILE; exit 1 on a difference

The state: every cgroup directory in every hierarchy, every mount (mount point, type,
source), every user process (not kernel threads), the runtime's and the engines' state dirs
(/run/gantry, Podman's and containerd's storage), CDI spec dirs, the users and subordinate id
ranges, and the test harness's temporary dirs in $TMPDIR. `compare` waits up to --wait seconds
for processes and cgroups to go away (this host's PID 1 reaps orphans late), then prints every
difference and fails.
"""

import argparse
import json
import os
import sys
import tempfile
import time

# Dirs whose whole tree is listed: state of the runtime, the engines and CDI.
TREES = [
    "/run/gantry",
    "/etc/cdi",
    "/var/run/cdi",
    "/run/cdi",
    "/var/lib/containers",
    "/run/containers",
    "/run/libpod",
    "/var/lib/containerd",
    "/run/containerd",
    "/var/lib/gantry",
]
# Files listed line by line (the first field): the users the tests may add.
ID_FILES = ["/etc/passwd", "/etc/group", "/etc/subuid", "/etc/subgid"]
# A systemd host starts and stops units of its own while the tests run.
VOLATILE_CGROUP_PARTS = ("user.slice", ".service", "init.scope", "session-")


def cgroup_mounts():
    out = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            left, _, right = line.partition(" - ")
            fstype = right.split()[0]
            if fstype in ("cgroup", "cgroup2"):
                out.append(decode(left.split()[4]))
    return out


def decode(s):
    """mountinfo's octal escapes (\\040 for a space, ...)."""
    out, i = [], 0
    while i < len(s):
        if s[i] == "\\" and i + 4 <= len(s) and s[i + 1 : i + 4].isdigit():
            out.append(chr(int(s[i + 1 : i + 4], 8)))
            i += 4
        else:
            out.append(s[i])
            i += 1
    return "".join(out)


def harness_cgroups():
    """The cgroups of whoever runs the tests: the parent of this process's own cgroup in each
    hierarchy (a CI agent or sandbox that gives each command a cgroup of its own under it)."""
    out = set()
    with open("/proc/self/cgroup") as f:
        for line in f:
            path = line.rstrip("\n").split(":", 2)[2].strip("/")
            if path:
                parent = os.path.dirname(path)
                out.add(parent if parent else path)
    return out


def cgroups():
    dirs = set()
    skip = harness_cgroups()
    for mnt in cgroup_mounts():
        for root, subdirs, _ in os.walk(mnt):
            for d in subdirs:
                p = os.path.join(root, d)
                rel = os.path.relpath(p, mnt)
                if any(v in rel for v in VOLATILE_CGROUP_PARTS):
                    continue
                if any(rel == h or rel.startswith(h + "/") for h in skip):
                    continue
                dirs.add(f"{mnt} {rel}")
    return sorted(dirs)


def mounts():
    out = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            left, _, right = line.partition(" - ")
            l, r = left.split(), right.split()
            out.append(f"{decode(l[4])} {r[0]} {decode(r[1])}")
    return sorted(out)


def processes():
    """pid -> (ppid, comm, cmdline) of every process but kernel threads."""
    out = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                stat = f.read()
            with open(f"/proc/{d}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:
            continue
        comm = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2 :].split()
        state, ppid, flags = fields[0], int(fields[1]), int(fields[6])
        if flags & 0x00200000:  # PF_KTHREAD
            continue
        out[int(d)] = (ppid, comm, state, cmd[:200])
    return out


def trees():
    out = []
    for t in TREES:
        if not os.path.lexists(t):
            continue
        out.append(t)
        for root, subdirs, files in os.walk(t):
            for n in subdirs + files:
                out.append(os.path.join(root, n))
    return sorted(out)


def ids():
    out = []
    for f in ID_FILES:
        try:
            with open(f) as fh:
                out += [f"{f} {l.split(':')[0]}" for l in fh if l.strip()]
        except OSError:
            pass
    return sorted(out)


def temp_dirs():
    tmp = tempfile.gettempdir()
    return sorted(
        os.path.join(tmp, n) for n in os.listdir(tmp) if n.startswith("gantry-")
    )


def record():
    return {
        "cgroups": cgroups(),
        "mounts": mounts(),
        "processes": {str(k): v for k, v in processes().items()},
        "trees": trees(),
        "ids": ids(),
        "temp": temp_dirs(),
    }


def ours(pid, procs):
    """Whether pid is this script or one of its ancestors (the test command running it)."""
    me = os.getpid()
    p = me
    seen = set()
    while p in procs and p not in seen:
        seen.add(p)
        if p == pid:
            return True
        p = procs[p][0]
    return pid == me


def differences(before):
    now = record()
    diff = []
    for key in ("cgroups", "mounts", "trees", "ids", "temp"):
        old, new = set(before[key]), set(now[key])
        diff += [f"{key}: left behind: {x}" for x in sorted(new - old)]
        diff += [f"{key}: gone: {x}" for x in sorted(old - new)]
    procs = processes()
    old = {int(k) for k in before["processes"]}
    for pid, (ppid, comm, state, cmd) in sorted(procs.items()):
        if pid in old or ours(pid, procs) or ppid == os.getpid():
            continue
        if not of_the_tests(pid, comm, cmd):
            continue
        diff.append(f"processes: left behind: {pid} ({comm}, state {state}, parent {ppid}) {cmd}")
    return diff


# What the tests start: runtimes, engines and their helpers.
TEST_PROGRAMS = ("gantry", "runc", "crun", "conmon", "containerd", "podman", "ctr")


def of_the_tests(pid, comm, cmd):
    """Whether a new process can be the tests': one in a container (a pid or mount namespace
    not ours), a runtime's or an engine's, or one naming a test dir. A host runs other things
    meanwhile (its CI agent, cron) that are none of the tests' business."""
    for ns in ("pid", "mnt"):
        try:
            if os.readlink(f"/proc/{pid}/ns/{ns}") != os.readlink(f"/proc/self/ns/{ns}"):
                return True
        except OSError:
            pass
    try:
        exe = os.path.basename(os.readlink(f"/proc/{pid}/exe"))
    except OSError:
        exe = ""
    names = (comm, exe, os.path.basename(cmd.split(" ")[0]) if cmd else "")
    if any(n.startswith(TEST_PROGRAMS) for n in names if n):
        return True
    return "gantry-" in cmd


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("what", choices=["record", "compare"])
    ap.add_argument("file")
    ap.add_argument("--wait", type=float, default=30.0)
    a = ap.parse_args()
    if a.what == "record":
        with open(a.file, "w") as f:
            json.dump(record(), f)
        return 0
    with open(a.file) as f:
        before = json.load(f)
    deadline = time.monotonic() + a.wait
    while True:
        diff = differences(before)
        if not diff or time.monotonic() >= deadline:
            break
        time.sleep(1)
    for d in diff:
        print(f"host-state: {d}")
    if diff:
        print(f"host-state: {len(diff)} differences between before and after the tests")
        return 1
    print("host-state: the host is as before the tests")
    return 0


if __name__ == "__main__":
    sys.exit(main())
