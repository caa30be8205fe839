"""Block hashing for BFT headers, installed into py-evm's header classes: a chain-format rule.

Besu's rule (BftBlockHeaderFunctions.forOnChainBlock): the hash of a BFT block covers the header
with its extraData re-encoded without commit seals and with round 0. Different validators may hold
different quorums of seals for one block, and a block re-proposed in a later round keeps its hash;
hashing the raw header would give each of them a different chain.

A header is a BFT header when its mixHash is the BFT constant (Besu identifies BFT blocks the same
way). Every other header (imported Ethereum chains) keeps keccak(rlp(header)).

py-evm computes ``header.hash`` in each fork's header class and decodes stored headers through a
shared sedes, so the rule is installed on those classes, once per process, by ``install()``
(jsc_node/state/startup.py, with the runtime patches). Not a speed-up: without it a BFT chain's
hashes are wrong, so it is not in the patch table of state/evm/patches/.
"""

from __future__ import annotations

from typing import Any, cast

import rlp
from eth.rlp.headers import BlockHeader
from eth.vm.forks.cancun.blocks import CancunBlockHeader
from eth.vm.forks.london.blocks import LondonBlockHeader
from eth.vm.forks.prague.blocks import PragueBlockHeader
from eth.vm.forks.shanghai.blocks import ShanghaiBlockHeader
from eth_hash.auto import keccak

# state/ may import the extraData codec: it is pure byte layout, shared by both processes.
from jsc_node.chainformat import BFT_MIX_HASH, extra_data_for_onchain_hash
from jsc_node.errors import InvalidBlock
from jsc_node.pins import check_targets, patch_path
from jsc_node.types import Hash32

HEADER_CLASSES = (BlockHeader, LondonBlockHeader, ShanghaiBlockHeader, CancunBlockHeader, PragueBlockHeader)
REPLACES = (
    "eth.rlp.headers:BlockHeader.hash",
    "eth.vm.forks.london.blocks:LondonBlockHeader.hash",
    "eth.vm.forks.shanghai.blocks:ShanghaiBlockHeader.hash",
    "eth.vm.forks.cancun.blocks:CancunBlockHeader.hash",
    "eth.vm.forks.prague.blocks:PragueBlockHeader.hash",
)
"""Each header class defines its own ``hash``; later forks (Prague is py-evm's last) inherit one."""


def onchain_hash(header: Any) -> Hash32:
    raw = rlp.encode(header)
    if header.mix_hash != BFT_MIX_HASH:
        return Hash32(keccak(raw))
    try:
        stripped = extra_data_for_onchain_hash(header.extra_data)
    except InvalidBlock:
        # Not a decodable QBFT extraData: such a header fails validation; hash it plainly.
        return Hash32(keccak(raw))
    return Hash32(keccak(rlp.encode(header.copy(extra_data=stripped))))


def _hash(self: Any) -> Hash32:
    # Headers are immutable (``copy()`` makes a new object), so the hash is cached as py-evm does.
    cached = self.__dict__.get("_bft_hash")
    if cached is None:
        cached = onchain_hash(self)
        self._bft_hash = cached
    return cast(Hash32, cached)


_HASH = property(_hash)


def install() -> None:
    check_targets(patch_path(__name__), REPLACES)
    for cls in HEADER_CLASSES:
        cls.hash = _HASH
