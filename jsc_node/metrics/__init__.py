"""Prometheus metrics (issue 14 §1).

``registry.py`` defines every metric the two working processes update (imported only by them
and by tests); ``server.py`` is the supervisor's side: the multiprocess directory, the
``/metrics`` HTTP server, and what it measures itself at scrape time (each process's CPU, RSS and
open files from /proc, the LevelDB size on disk).

Why prometheus-client's multiprocess mode: a node is three processes (node.py), the execution
process holds the chain, pool and RPC metrics, the consensus process the QBFT, p2p and sync
ones. In multiprocess mode each process writes its values into mmap files of its own in one
directory (``PROMETHEUS_MULTIPROC_DIR``, under the data dir), and the supervisor merges them at
each scrape (``MultiProcessCollector``): no metric crosses the seam, nothing is lost when one
process is busy, and a scrape never waits on a child's event loop. The rules of that mode are
kept here: the directory is emptied at each start, each gauge names how its per-process values
merge, and the children register no custom collectors (what is measured at scrape time is
measured by the supervisor).
"""
