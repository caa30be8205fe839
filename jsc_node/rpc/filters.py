"""HTTP filters (geth ``eth/filters/api.go``): poll for what happened since the last poll.

``eth_newFilter(criteria)``, ``eth_newBlockFilter()``, ``eth_newPendingTransactionFilter(full?)``
install a filter and answer its id (geth's: 16 random bytes, ``0x``-hex). From then on the filter
gathers what :class:`~jsc_node.rpc.subscriptions.EventHub` publishes: matching logs of new blocks,
new block hashes, or transactions that became pending. ``eth_getFilterChanges(id)`` hands them over
and empties the filter; ``eth_getFilterLogs(id)`` runs the log filter's criteria as ``eth_getLogs``;
``eth_uninstallFilter(id)`` answers whether it removed one. An unknown id answers geth's
``filter not found`` (-32000).

Bounds (memory stays bounded whatever clients do):

- :data:`FILTER_TIMEOUT_S`: a filter not polled with ``eth_getFilterChanges`` for 5 minutes is
  removed (geth's deadline);
- :data:`MAX_FILTERS` filters on the node; installing more answers -32005;
- :data:`MAX_FILTER_ITEMS` results waiting in one filter and :data:`MAX_BUFFERED_ITEMS` in all
  filters together. A filter that would pass either is emptied, and its next poll answers -32005
  ("results were dropped"; ``eth_getLogs`` covers the gap), after which it goes on gathering.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from jsc_node.errors import (
    FilterLimitExceeded,
    FilterNotFound,
    InvalidParams,
)
from jsc_node.rpc.encoding import check_arity, decode_bool, format_log, format_tx, optional, required
from jsc_node.rpc.methods.eth import FilterCriteria, decode_filter_criteria, logs_matching
from jsc_node.rpc.ports import RpcBackend
from jsc_node.rpc.subscriptions import EventHub, Handler, LogCriteria, log_criteria, new_id
from jsc_node.views import (
    LogView,
    NewHeadEvent,
    NewLogsEvent,
    NewPendingTxsEvent,
    TxView,
)

FILTER_TIMEOUT_S: Final = 300.0
"""Idle time after which a filter is removed (geth: 5 minutes since the last eth_getFilterChanges)."""
MAX_FILTERS: Final = 1000
"""Filters installed on the node at once."""
MAX_FILTER_ITEMS: Final = 10_000
"""Results one filter holds between polls (eth_getLogs' result cap)."""
MAX_BUFFERED_ITEMS: Final = 200_000
"""Results all filters hold together. Views are shared between filters, so this bounds references;
the objects behind them are at most the chain's events of the last FILTER_TIMEOUT_S."""
SWEEP_INTERVAL_S: Final = 1.0
"""Expired filters are looked for at most this often (on calls and events; no timer task)."""


Kind = type[NewHeadEvent] | type[NewLogsEvent] | type[NewPendingTxsEvent]


@dataclass(slots=True, eq=False)
class _Filter:
    kind: Kind
    last_used: float
    criteria: LogCriteria | None = None
    """Log filters only."""
    query: FilterCriteria | None = None
    """Log filters only: the criteria as given, for eth_getFilterLogs."""
    full_txs: bool = False
    """Pending-transaction filters only: hand over objects instead of hashes."""
    items: list[Any] = field(default_factory=list)
    dropped: bool = False
    """Results were thrown away since the last poll (a bound was hit)."""


def decode_filter_id(value: Any) -> str:
    if not isinstance(value, str):
        raise InvalidParams("json: cannot unmarshal non-string into Go value of type rpc.ID")
    return value


class FilterManager:
    """The node's HTTP filters, fed by one :class:`EventHub` (listens only while filters exist)."""

    def __init__(
        self,
        hub: EventHub,
        *,
        clock: Callable[[], float] = time.monotonic,
        timeout_s: float = FILTER_TIMEOUT_S,
        max_filters: int = MAX_FILTERS,
        max_items: int = MAX_FILTER_ITEMS,
        max_buffered: int = MAX_BUFFERED_ITEMS,
        make_id: Callable[[], str] = new_id,
    ) -> None:
        self._hub = hub
        self._clock = clock
        self._timeout_s = timeout_s
        self._max_filters = max_filters
        self._max_items = max_items
        self._max_buffered = max_buffered
        self._make_id = make_id
        self._filters: dict[str, _Filter] = {}
        self._hub_unsubscribe: dict[Kind, Callable[[], None]] = {}
        self._buffered = 0
        self._last_sweep = clock()

    def __len__(self) -> int:
        return len(self._filters)

    @property
    def buffered(self) -> int:
        """Results waiting in all filters."""
        return self._buffered

    def methods(self) -> Mapping[str, Handler]:
        """The filter methods by wire name, bound to this manager (merged into the dispatch table)."""
        return {
            "eth_newFilter": self.new_filter,
            "eth_newBlockFilter": self.new_block_filter,
            "eth_newPendingTransactionFilter": self.new_pending_transaction_filter,
            "eth_getFilterChanges": self.get_filter_changes,
            "eth_getFilterLogs": self.get_filter_logs,
            "eth_uninstallFilter": self.uninstall_filter,
        }

    # -- methods ---------------------------------------------------------------------

    async def new_filter(self, backend: RpcBackend, params: list[Any]) -> str:
        check_arity(params, 1)
        query = required(params, 0, decode_filter_criteria)
        criteria = log_criteria(query.from_block, query.to_block, query.addresses, query.topics)
        return self._install(_Filter(NewLogsEvent, self._clock(), criteria=criteria, query=query))

    async def new_block_filter(self, backend: RpcBackend, params: list[Any]) -> str:
        check_arity(params, 0)
        return self._install(_Filter(NewHeadEvent, self._clock()))

    async def new_pending_transaction_filter(self, backend: RpcBackend, params: list[Any]) -> str:
        check_arity(params, 1)
        full = optional(params, 0, decode_bool, False)
        return self._install(_Filter(NewPendingTxsEvent, self._clock(), full_txs=full))

    async def get_filter_changes(self, backend: RpcBackend, params: list[Any]) -> list[Any]:
        check_arity(params, 1)
        flt = self._get(required(params, 0, decode_filter_id))
        flt.last_used = self._clock()
        items, flt.items = flt.items, []
        self._buffered -= len(items)
        if flt.dropped:
            flt.dropped = False
            raise FilterLimitExceeded(
                f"filter dropped results: more than {self._max_items} since the last poll "
                "(or the node's filters hold too many); poll more often, use eth_getLogs for the gap"
            )
        if flt.kind is NewLogsEvent:
            return [format_log(view) for view in items]
        if flt.kind is NewHeadEvent:
            return ["0x" + block_hash.hex() for block_hash in items]
        if flt.full_txs:
            return [format_tx(tx) for tx in items]
        return ["0x" + tx.hash.hex() for tx in items]

    async def get_filter_logs(self, backend: RpcBackend, params: list[Any]) -> list[dict[str, Any]]:
        check_arity(params, 1)
        flt = self._get(required(params, 0, decode_filter_id))
        if flt.query is None:
            raise FilterNotFound()
        return await logs_matching(backend, flt.query)

    async def uninstall_filter(self, backend: RpcBackend, params: list[Any]) -> bool:
        check_arity(params, 1)
        filter_id = required(params, 0, decode_filter_id)
        self._sweep()
        return self._remove(filter_id)

    # -- bookkeeping -------------------------------------------------------------------

    def _install(self, flt: _Filter) -> str:
        self._sweep()
        if len(self._filters) >= self._max_filters:
            raise FilterLimitExceeded(f"too many filters installed (max {self._max_filters})")
        filter_id = self._make_id()
        self._filters[filter_id] = flt
        if flt.kind not in self._hub_unsubscribe:
            self._hub_unsubscribe[flt.kind] = self._listen(flt.kind)
        return filter_id

    def _listen(self, kind: Kind) -> Callable[[], None]:
        if kind is NewLogsEvent:
            return self._hub.subscribe(NewLogsEvent, self._on_logs)
        if kind is NewHeadEvent:
            return self._hub.subscribe(NewHeadEvent, self._on_head)
        return self._hub.subscribe(NewPendingTxsEvent, self._on_pending)

    def _get(self, filter_id: str) -> _Filter:
        self._sweep()
        flt = self._filters.get(filter_id)
        if flt is None:
            raise FilterNotFound()
        return flt

    def _remove(self, filter_id: str) -> bool:
        flt = self._filters.pop(filter_id, None)
        if flt is None:
            return False
        self._buffered -= len(flt.items)
        flt.items = []
        if not any(other.kind is flt.kind for other in self._filters.values()):
            self._hub_unsubscribe.pop(flt.kind)()
        return True

    def _sweep(self) -> None:
        now = self._clock()
        if now - self._last_sweep < SWEEP_INTERVAL_S:
            return
        self._last_sweep = now
        expired = [fid for fid, flt in self._filters.items() if now - flt.last_used >= self._timeout_s]
        for filter_id in expired:
            self._remove(filter_id)

    def _add(self, flt: _Filter, item: Any) -> None:
        if len(flt.items) >= self._max_items or self._buffered >= self._max_buffered:
            self._buffered -= len(flt.items)
            flt.items = []
            flt.dropped = True
            return
        flt.items.append(item)
        self._buffered += 1

    # -- events ------------------------------------------------------------------------

    def _of_kind(self, kind: Kind) -> list[_Filter]:
        self._sweep()
        return [flt for flt in self._filters.values() if flt.kind is kind]

    def _on_head(self, event: NewHeadEvent) -> None:
        for flt in self._of_kind(NewHeadEvent):
            self._add(flt, event.block.hash)

    def _on_logs(self, event: NewLogsEvent) -> None:
        for flt in self._of_kind(NewLogsEvent):
            criteria = flt.criteria
            assert criteria is not None
            view: LogView
            for view in event.logs:
                if criteria.matches(view):
                    self._add(flt, view)

    def _on_pending(self, event: NewPendingTxsEvent) -> None:
        for flt in self._of_kind(NewPendingTxsEvent):
            tx: TxView
            for tx in event.txs:
                self._add(flt, tx)
