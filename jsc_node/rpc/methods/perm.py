"""``perm_*`` (Besu's PERM API) for accounts: this node's local account allowlist file.

perm_getAccountsAllowlist answers the listed addresses (lowercase, as Besu keeps them);
perm_addAccountsToAllowlist / perm_removeAccountsFromAllowlist edit the list and rewrite the file,
perm_reloadPermissionsFromFile reads it again; each answers "Success". Refusals are Besu's -32000
words (state/permissions.py: not enabled, empty, invalid, duplicated, existing, absent entry). The
chain's AccountAllowlist contract is changed by its admins' transactions, not here. perm_*Nodes*
are not served (the nodes file is edited by hand and reloaded on change).
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
