"""The RPC-serving features of the execution side, behind the backend facade (state/backend.py):
the environment of eth_call and eth_estimateGas (``callenv.py``, ``overrides.py``,
``deadline.py``), eth_simulateV1 (``simulate.py``), debug tracing (``tracing.py``), account and
storage proofs (``proofs.py``), payload building and eth_config (``payload.py``) and blob
sidecars (``blobs.py``). Each reads the chain through the executor and never commits."""
