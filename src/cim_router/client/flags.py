"""The connection flags every command-line client shares: the API key (`--token`,
`--token-file`, env CIM_ROUTER_TOKEN / CIM_ROUTER_TOKEN_FILE) and TLS (`--ca`, `--cert`,
`--key`, `--server-name`, env CIM_ROUTER_CA ...). TLS is used when any TLS file is given or
the target starts with https:// or grpcs://.

A key given with --token can be read by other users of the machine in its process list:
prefer the environment or a file.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping
from dataclasses import dataclass

from cim_router.client.connection import TOKEN_ENV, Tls, read_token_file, token_metadata

TOKEN_FILE_ENV = "CIM_ROUTER_TOKEN_FILE"
TLS_FLAGS = {
    "ca": ("CIM_ROUTER_CA", "PEM CA certificate(s) to trust (default: the system's)"),
    "cert": ("CIM_ROUTER_CERT", "PEM client certificate, for mutual TLS"),
    "key": ("CIM_ROUTER_KEY", "PEM private key of --cert"),
    "server-name": ("CIM_ROUTER_SERVER_NAME", "the router certificate's name, if not the target's"),
}


@dataclass(frozen=True)
class Connection:
    """What the flags say: the API key (or None) and TLS settings (or None: plaintext)."""

    token: str | None
    tls: Tls | None


def add_connection_flags(p: argparse.ArgumentParser) -> None:
    """Add --token, --token-file, --ca, --cert, --key and --server-name to `p`."""
    p.add_argument(
        "--token",
        help=f"API key, sent as 'authorization: Bearer KEY' [env {TOKEN_ENV}]",
    )
    p.add_argument(
        "--token-file", metavar="FILE", help=f"file holding the API key [env {TOKEN_FILE_ENV}]"
    )
    for flag, (env, text) in TLS_FLAGS.items():
        p.add_argument(f"--{flag}", metavar="FILE" if flag != "server-name" else "NAME",
                       help=f"{text} [env {env}]")  # fmt: skip


def connection_from(args: argparse.Namespace, env: Mapping[str, str] | None = None) -> Connection:
    """The key and TLS settings of parsed flags, the environment filling what is not given.
    Raises ValueError for an unreadable file or flags that contradict each other."""
    env = os.environ if env is None else env
    if args.token and args.token_file:
        raise ValueError("--token and --token-file: give one")
    token: str | None = args.token
    if not token and args.token_file:
        token = read_token_file(args.token_file)
    if not token and not args.token_file:
        token = env.get(TOKEN_ENV) or None
        if not token and env.get(TOKEN_FILE_ENV):
            token = read_token_file(env[TOKEN_FILE_ENV])

    if token:
        token_metadata(token)  # ValueError for a key that is not one word
    else:
        token = None

    def value(flag: str) -> str | None:
        given: str | None = getattr(args, flag.replace("-", "_"))
        return given or env.get(TLS_FLAGS[flag][0]) or None

    ca, cert, key, server_name = (value(f) for f in TLS_FLAGS)
    if bool(cert) != bool(key):
        raise ValueError("--cert and --key go together")
    tls = None
    if ca or cert or server_name:
        try:
            tls = Tls.from_files(ca=ca, cert=cert, key=key, server_name=server_name)
        except OSError as exc:
            raise ValueError(f"cannot read {exc.filename}: {exc.strerror}") from None
    return Connection(token, tls)
