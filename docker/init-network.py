"""Keys, genesis, bootnodes and the nodes allowlist of a jsc-node network, for docker/compose.yaml
(its `init` service runs this in the jsc-node image) and docker/kubernetes/ (run it on your own
machine, with jsc-node installed, and turn its output into Secrets and a ConfigMap).

    PYTHON docker/init-network.py --out DIR --validators 4 --nodes rpc-0 \
        [--p2p-host-format '{name}'] [--p2p-port 30303] [-- GENESIS-NEW-FLAGS...]

PYTHON is a Python with jsc-node installed: the image's `python`, or `.venv/bin/python` after
`make install`.

DIR, written once and then kept (a second run adds what is missing and rewrites the two TOML files):

    genesis.json               `jsc-node genesis new --validators N` (QBFT, config.jsc with each genesis
    validator-<i>/key          validator's attestation in the registry: development ones unless you pass
    validator-<i>/address      `-- --attestations FILE`); the flags after `--` go to `genesis new`
    <name>/key                 a node key for each --nodes name (RPC nodes, validators-to-be)
    <name>/address             every node key's address (EIP-55)
    <name>/peer-id             every node's libp2p peer ID (its key inlined)
    permissions_config.toml    nodes-allowlist = every node's peer ID (--permissions-nodes-config-file):
                               validators admit each other by address, the other nodes only by this list
    bootnodes.toml             bootnodes = every genesis validator's /dns4/HOST/tcp/PORT/p2p/<peer id>
                               (--config-file): HOST is --p2p-host-format with {name} replaced

Keys are unencrypted files (Besu's key file format, mode 0600), as `jsc-node genesis new` writes them.
A key is never replaced: running the script again on DIR with more --nodes names adds their keys and
lists them, which is how a node joins (see README "A monitored network with Docker Compose").
Exit status 1 with one `error:` line when DIR holds a different network (another validator count).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import NoReturn

# A node name is a DNS label: it becomes a compose service name or a Kubernetes pod name.
NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")


def fail(message: str) -> NoReturn:
    print(f"error: {message}", file=sys.stderr)
    sys.exit(1)


def parse_args(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    genesis_flags: list[str] = []
    if "--" in argv:
        cut = argv.index("--")
        argv, genesis_flags = argv[:cut], argv[cut + 1 :]
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="network directory")
    parser.add_argument("--validators", type=int, required=True, help="genesis validators")
    parser.add_argument("--nodes", default="", help="other nodes, comma-separated names (e.g. rpc-0)")
    parser.add_argument("--p2p-host-format", default="{name}", help="DNS name of a node's p2p host")
    parser.add_argument("--p2p-port", type=int, default=30303)
    return parser.parse_args(argv), genesis_flags


def main(argv: list[str]) -> None:
    args, genesis_flags = parse_args(argv)
    from eth_account import Account

    from jsc_node.accounts import read_private_key_file, write_secret
    from jsc_node.genesis import load_genesis
    from jsc_node.p2p.host import peer_id_of

    out: Path = args.out
    if args.validators < 1:
        fail(f"--validators must be 1 or more, got {args.validators}")
    genesis = out / "genesis.json"
    held = len(load_genesis(genesis).validators) if genesis.exists() else args.validators
    if held != args.validators:
        fail(f"{out} holds a network of {held} genesis validators, not {args.validators}")
    validators = [f"validator-{i}" for i in range(args.validators)]
    others = [name.strip() for name in args.nodes.split(",") if name.strip()]
    for name in others:
        if not NAME.match(name) or name in validators:
            fail(
                f"--nodes {name!r}: a node name is a DNS label (a-z, 0-9, -) other than the genesis validators'"
            )
    if not genesis.exists():
        # The real CLI, so --attestations, --chain-id ... are checked as `genesis new` checks them.
        # This interpreter's jsc-node (the image's, or the venv it runs in), whatever PATH says.
        command = [
            sys.executable,
            "-m",
            "jsc_node.cli",
            "genesis",
            "new",
            "--validators",
            str(args.validators),
        ]
        command += ["--out", str(out)]
        done = subprocess.run([*command, *genesis_flags], check=False)
        if done.returncode != 0:
            sys.exit(done.returncode)
    spec = load_genesis(genesis)
    peer_ids: dict[str, str] = {}
    for name in [*validators, *others]:
        key_file = out / name / "key"
        if not key_file.exists():
            if name in validators:
                fail(f"{key_file} is missing: {out} is not a complete network")
            key_file.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            write_secret(key_file, "0x" + bytes(Account.create().key).hex())
        key = read_private_key_file(key_file)
        peer_ids[name] = str(peer_id_of(key))
        (out / name / "peer-id").write_text(peer_ids[name] + "\n")
        # The account of the node key: what `jsc-node governance` signs with and gets funded.
        (out / name / "address").write_text(Account.from_key(key).address + "\n")
    bootnodes = [
        f"/dns4/{args.p2p_host_format.format(name=name)}/tcp/{args.p2p_port}/p2p/{peer_ids[name]}"
        for name in validators
    ]
    write_atomic(
        out / "permissions_config.toml",
        "# Written by docker/init-network.py: every node of the network; nodes reload it when it changes.\n"
        "nodes-allowlist = [\n" + "".join(f'  "{peer_ids[n]}",  # {n}\n' for n in peer_ids) + "]\n",
    )
    write_atomic(
        out / "bootnodes.toml",
        "# Written by docker/init-network.py: the genesis validators (a node skips its own entry).\n"
        f"bootnodes = {json.dumps(bootnodes, indent=2)}\n",
    )
    for name, peer_id in peer_ids.items():
        print(f"{name}: {peer_id}")
    print(f"genesis: {genesis} (chain id {spec.chain_id})")


def write_atomic(path: Path, text: str) -> None:
    # A node reloading the allowlist never reads half a file.
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text(text)
    tmp.replace(path)


if __name__ == "__main__":
    from jsc_node.errors import JscError

    try:
        main(sys.argv[1:])
    except JscError as exc:  # a bad genesis or key file: one line, as jsc-node says it
        fail(str(exc))
