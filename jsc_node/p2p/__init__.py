"""Networking of the consensus process (trio): a py-libp2p host and gossipsub topics.

- ``host.P2PHost``: TCP, Noise only, yamux, identity = node key, permissioned peering
  (``PeerAllowlist``), bootnode redial, views for admin_peers / admin_nodeInfo / net_peerCount.
- ``gossip.Gossip``: the txs / blocks / qbft topics of one chain, validated before forwarding,
  misbehaving peers banned; ``broadcast``/``receive`` is ``consensus.service.GossipPort``.
- ``network.P2PNetwork``: both, with the allowlist and the accepted signers kept equal to the
  validator set (``set_validators``) plus configured extra peers. What the consensus process runs.

Imports no ``jsc_node.state`` or ``jsc_node.rpc`` (and no py-evm): consensus messages and blocks
are checked with ``jsc_node.consensus.messages`` / ``.block`` only.
"""
