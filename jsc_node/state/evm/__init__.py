"""Execution on py-evm: ``forks.py`` (the fork schedule, the VM class of each fork, and the one
answer to "which fork is this block"), ``rules.py`` (every gas, blob and intrinsic-gas constant
and pre-execution check, once, with geth's words) and ``executor.py`` (genesis, and building,
validating and committing blocks, each commit one LevelDB batch); ``patches/`` holds the runtime
speed-ups of py-evm, py-trie and pyrlp."""
