"""The transaction pool of the execution process: ``rules.py`` decides what may enter (geth's
admission checks and words, on the gas and blob rules of state/evm/rules.py), ``pool.py`` keeps
the admitted transactions by sender and nonce (replacement, eviction, head updates, the block
builder's best-first view) and ``journal.py`` makes each acknowledged transaction durable (an
fsynced append-only file, re-read at start)."""
