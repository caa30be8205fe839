"""The execution seam: how the consensus process (trio) and the execution process (asyncio) talk.

Modelled on Ethereum's Engine API: the consensus side asks, the execution side answers, and the
execution side pushes what changes on its own (new transactions, the operator's votes, the head).
Transport: a Unix stream socket in the data dir; several requests may be in flight on it at once,
each answer carries its request's id, and a long request (validating or building a block) does
not hold up short ones. Modules: ``messages`` (the dataclasses), ``codec`` (the only place that
makes frames), ``client`` (consensus side), ``server`` (execution side).

Requests (``method``: fields -> answer):
- ``head``                                              -> HeaderSummary of the canonical head
- ``headers``  start, count                             -> HeadersReply: header RLPs from ``start``
                                                           up to the head (at most 1,024)
- ``build_block`` parent, timestamp, coinbase, extra_data -> BuiltBlock: block, hash, number, tx_count
- ``validate_block`` block                              -> BlockValid: hash, number (or the error
                                                           InvalidBlock)
- ``commit_block``   block                              -> BlockCommitted: hash, number (atomic; the
                                                           block becomes head)
- ``remote_txs``     txs                                -> TxsAccepted: accepted (txs peers gossiped)
- ``blocks``   start, count, max_bytes                  -> BlocksReply: canonical blocks with their
                                                           seals for block sync's server (<= 128)
- ``set_peers`` count, listening, node, peers           -> Ack (net_peerCount, net_listening,
                                                           admin_nodeInfo, admin_peers)
- ``set_sync``  progress (starting, current, highest) or None -> Ack (eth_syncing)
- ``subscribe`` events                                  -> Ack; the present state first, then every
                                                           later event of those kinds

Events (pushed by the execution process to the connections subscribed to them):
- ``pending_changed`` count          the pool's executable-transaction count changed
- ``local_txs``       txs            transactions accepted over JSON-RPC, to gossip
- ``vote_proposed``   address, add   qbft_proposeValidatorVote
- ``vote_discarded``  address        qbft_discardValidatorVote
- ``head_changed``    number, hash, pending   a block was committed; the pool's count after it
- ``log_level_changed`` level, loggers  admin_changeLogLevel (the consensus process follows)

A HeaderSummary is ``number, hash, parent_hash, timestamp, coinbase, extra_data, gas_limit``.
Errors cross by name: InvalidBlock stays InvalidBlock, any other JscError becomes SeamError.
"""
