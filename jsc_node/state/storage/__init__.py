"""The chain database: LevelDB under py-evm's database API, with the write overlay a block executes
in and one LevelDB batch commits (leveldb.py), and the table of every key the node writes there
(keys.py), where a new key is declared. The execution process opens it (``jsc-node init`` and
``import`` open it instead, under the same data-dir lock); the other files of a data dir (node key,
keystore, pool journal, consensus message log) are not in it.
"""
