"""``perm_*`` (Besu's PERM API): this node's local account and nodes allowlist files.

perm_getAccountsAllowlist answers the listed addresses (lowercase, as Besu keeps them);
perm_addAccountsToAllowlist / perm_removeAccountsFromAllowlist edit the list and rewrite the file,
perm_reloadPermissionsFromFile reads the files again; each answers "Success". Refusals are Besu's
-32000 words (state/permissions.py: not enabled, empty, invalid, duplicated, existing, absent entry).
perm_getNodesAllowlist answers the nodes file's entries as written (Besu answers enode URLs; a
jsc-node names a node by its libp2p peer ID or a multiaddr ending in /p2p/<peer id>);
perm_addNodesToAllowlist / perm_removeNodesFromAllowlist rewrite that file, which the consensus
process reloads within its poll interval (2 s), with Besu's node refusals (a bootnode cannot be
removed). The chain's AccountAllowlist and NodeAllowlist contracts are changed by their admins'
transactions, not here.
"""

from __future__ import annotations

from typing import Any, Final

from jsc_node.errors import InvalidParams
from jsc_node.rpc.encoding import check_arity
from jsc_node.rpc.ports import RpcBackend

SUCCESS: Final = "Success"


def _accounts_param(params: list[Any]) -> list[Any]:
    check_arity(params, 1)
    if not params or not isinstance(params[0], list):
        # Besu: RpcErrorType.INVALID_ACCOUNT_PARAMS (-32602).
        raise InvalidParams("Invalid account params: expected an array of 0x-addresses")
    return list(params[0])


async def get_accounts_allowlist(backend: RpcBackend, params: list[Any]) -> list[str]:
    check_arity(params, 0)
    return ["0x" + a.hex() for a in await backend.perm_accounts_allowlist()]


async def add_accounts_to_allowlist(backend: RpcBackend, params: list[Any]) -> str:
    await backend.perm_add_accounts(_accounts_param(params))
    return SUCCESS


async def remove_accounts_from_allowlist(backend: RpcBackend, params: list[Any]) -> str:
    await backend.perm_remove_accounts(_accounts_param(params))
    return SUCCESS


async def reload_permissions_from_file(backend: RpcBackend, params: list[Any]) -> str:
    check_arity(params, 0)
    await backend.perm_reload()
    return SUCCESS


def _nodes_param(params: list[Any]) -> list[Any]:
    check_arity(params, 1)
    if not params or not isinstance(params[0], list):
        # Besu: RpcErrorType.INVALID_ENODE_PARAMS (-32602).
        raise InvalidParams("Invalid enode params: expected an array of peer IDs or /p2p/ multiaddrs")
    return list(params[0])


async def get_nodes_allowlist(backend: RpcBackend, params: list[Any]) -> list[str]:
    check_arity(params, 0)
    return list(await backend.perm_nodes_allowlist())


async def add_nodes_to_allowlist(backend: RpcBackend, params: list[Any]) -> str:
    await backend.perm_add_nodes(_nodes_param(params))
    return SUCCESS


async def remove_nodes_from_allowlist(backend: RpcBackend, params: list[Any]) -> str:
    await backend.perm_remove_nodes(_nodes_param(params))
    return SUCCESS
