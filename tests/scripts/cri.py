#!/usr/bin/python3
"""cri.py SOCKET COMMAND ...: the few CRI (runtime.v1) calls a kubelet makes to run a pod, for
tests on a host without crictl or a kubelet (Debian 12 packages neither). Needs python3-grpcio;
the messages are encoded here by field number (k8s.io/cri-api pkg/apis/runtime/v1/api.proto),
so no generated code or protobuf package is needed.

  runp NAME HANDLER LOGDIR             RunPodSandbox (host network), prints the sandbox id
  create POD NAME HANDLER LOGDIR IMAGE CMD...
                                       CreateContainer in POD, prints the container id
  start ID | stop ID | rm ID           StartContainer, StopContainer (timeout 0), RemoveContainer
  exec ID CMD...                       ExecSync: prints its stdout, exits with its exit code
  stopp POD | rmp POD                  StopPodSandbox, RemovePodSandbox
"""

import sys

import grpc


def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def field(num, value):
    """A length-delimited field (string, bytes, message) or a varint (int)."""
    if isinstance(value, int):
        return varint(num << 3) + varint(value)
    if isinstance(value, str):
        value = value.encode()
    return varint(num << 3 | 2) + varint(len(value)) + value


def fields(data):
    """(number, value) of each field of a message: bytes for length-delimited, int for varints."""
    i = 0
    while i < len(data):
        key, i = read_varint(data, i)
        num, wire = key >> 3, key & 7
        if wire == 0:
            v, i = read_varint(data, i)
        elif wire == 2:
            n, i = read_varint(data, i)
            v, i = data[i : i + n], i + n
        else:
            raise ValueError(f"wire type {wire} not expected in a CRI response")
        yield num, v


def read_varint(data, i):
    n = shift = 0
    while True:
        b = data[i]
        i += 1
        n |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return n, i


def sandbox_config(name, logdir):
    metadata = field(1, name) + field(2, name + "-uid") + field(3, "default") + field(4, 1)
    # NamespaceOption: network NODE (2) needs no CNI; pid CONTAINER (1), as the kubelet sets.
    ns = field(1, 2) + field(2, 1)
    linux = field(2, field(1, ns))
    return field(1, metadata) + field(3, logdir) + field(8, linux)


def call(channel, service, method, request):
    rpc = channel.unary_unary(f"/runtime.v1.{service}/{method}")
    return rpc(request, timeout=60)


def main(argv):
    sock, cmd, args = argv[1], argv[2], argv[3:]
    with grpc.insecure_channel(f"unix://{sock}") as ch:
        rt = lambda m, req: call(ch, "RuntimeService", m, req)
        if cmd == "runp":
            name, handler, logdir = args
            resp = rt("RunPodSandbox", field(1, sandbox_config(name, logdir)) + field(2, handler))
            print(dict(fields(resp))[1].decode())
        elif cmd == "create":
            pod, name, handler, logdir, image, *command = args
            del handler  # the sandbox's handler applies to its containers
            config = (
                field(1, field(1, name + "-c"))
                + field(2, field(1, image))
                + b"".join(field(3, c) for c in command)
                + field(11, name + "-c.log")
            )
            resp = rt(
                "CreateContainer",
                field(1, pod) + field(2, config) + field(3, sandbox_config(name, logdir)),
            )
            print(dict(fields(resp))[1].decode())
        elif cmd == "start":
            rt("StartContainer", field(1, args[0]))
        elif cmd == "stop":
            rt("StopContainer", field(1, args[0]) + field(2, 0))
        elif cmd == "rm":
            rt("RemoveContainer", field(1, args[0]))
        elif cmd == "exec":
            cid, *command = args
            req = field(1, cid) + b"".join(field(2, c) for c in command) + field(3, 30)
            resp = dict(fields(rt("ExecSync", req)))
            sys.stdout.write(resp.get(1, b"").decode())
            sys.stderr.write(resp.get(2, b"").decode())
            return resp.get(3, 0)
        elif cmd == "stopp":
            rt("StopPodSandbox", field(1, args[0]))
        elif cmd == "rmp":
            rt("RemovePodSandbox", field(1, args[0]))
        else:
            sys.exit(f"cri.py: unknown command {cmd}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv))
    except grpc.RpcError as e:
        sys.exit(f"cri.py {sys.argv[2]}: {e.code()}: {e.details()}")
