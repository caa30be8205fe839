// The live chain page. It reads the node's read-only JSON-RPC on its own origin (POST /rpc,
// WebSocket /ws: jsc_node/rpc/ui.py) and writes chain data into text nodes only: entity names and
// event strings are whatever someone put on chain.

import { barChart } from "./chart.js";
import { decodeQbftExtraData } from "./rlp.js";

const WINDOW = 60; // blocks in the charts and the averages
const LATEST_ROWS = 12; // rows of the latest blocks table
const EVENT_RANGE = 5000; // blocks of governance events asked for (the port's cap: UI_LOG_RANGE_MAX)
const EVENT_ROWS = 15;
const SLOW_REFRESH_MS = 10_000; // validators, events, peers
const RECONNECT_MAX_MS = 10_000;
const TX_TYPES = ["legacy", "EIP-2930", "EIP-1559", "EIP-4844 blob", "EIP-7702"];

const state = {
  blocks: new Map(), // number -> block summary
  head: null,
  finalized: null,
  validators: [], // [{address, attestation}]
  validatorsAt: null, // the block they were read at
  entities: new Map(), // lower-case address -> entity name (validators)
  candidates: new Map(), // lower-case address -> entity name submitted to the registry
  events: [], // the newest EVENT_ROWS registry events
  eventCount: 0,
  eventsFrom: null, // the blocks read for events so far
  eventsTo: null,
  lastSlowRefresh: 0,
  jscAvailable: true,
};

// --- DOM helpers ------------------------------------------------------------------------------

const $ = (id) => document.getElementById(id);

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key === "class") {
      node.className = value;
    } else if (key === "title") {
      node.title = value;
    } else if (key.startsWith("data-")) {
      node.setAttribute(key, value);
    } else if (key === "onclick") {
      node.addEventListener("click", value);
    } else {
      node.setAttribute(key, value);
    }
  }
  for (const child of children) {
    if (child === null || child === undefined) {
      continue;
    }
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function setText(id, text) {
  $(id).textContent = text;
}

function short(hex, head = 6, tail = 4) {
  if (typeof hex !== "string" || hex.length <= head + tail + 2) {
    return hex ?? "";
  }
  return `${hex.slice(0, head)}…${hex.slice(-tail)}`;
}

const int = (hex) => (hex === null || hex === undefined ? null : parseInt(hex, 16));
const big = (hex) => BigInt(hex);

function formatEther(wei) {
  const whole = wei / 10n ** 18n;
  const frac = (wei % 10n ** 18n).toString().padStart(18, "0").slice(0, 6).replace(/0+$/, "");
  return `${whole.toLocaleString("en-US")}${frac ? "." + frac : ""} ETH`;
}

function formatGwei(wei) {
  const gwei = Number(wei) / 1e9;
  return `${gwei.toLocaleString("en-US", { maximumFractionDigits: 4 })} gwei`;
}

function age(timestamp) {
  const seconds = Math.max(0, Math.round(Date.now() / 1000 - timestamp));
  if (seconds < 60) {
    return `${seconds} s ago`;
  }
  if (seconds < 3600) {
    return `${Math.floor(seconds / 60)} min ago`;
  }
  if (seconds < 86400) {
    return `${Math.floor(seconds / 3600)} h ago`;
  }
  return new Date(timestamp * 1000).toISOString().slice(0, 16).replace("T", " ");
}

function showProblem(text) {
  const node = $("problem");
  node.textContent = text;
  node.hidden = !text;
}

// --- JSON-RPC over HTTP -------------------------------------------------------------------------

class RpcError extends Error {
  constructor(error) {
    super(error.message);
    this.code = error.code;
  }
}

let nextId = 1;

async function post(payload) {
  const response = await fetch("rpc", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(payload),
  });
  if (!response.ok) {
    throw new Error(`HTTP ${response.status} from the node`);
  }
  return response.json();
}

async function rpc(method, params = []) {
  const answer = await post({ jsonrpc: "2.0", id: nextId++, method, params });
  if (answer.error) {
    throw new RpcError(answer.error);
  }
  return answer.result;
}

// Several calls in one request; each result, or an RpcError in its place.
async function batch(calls) {
  if (calls.length === 0) {
    return [];
  }
  const first = nextId;
  nextId += calls.length;
  const answers = await post(calls.map(([method, params], i) => ({ jsonrpc: "2.0", id: first + i, method, params })));
  const byId = new Map((Array.isArray(answers) ? answers : [answers]).map((a) => [a.id, a]));
  return calls.map((_, i) => {
    const answer = byId.get(first + i);
    if (!answer) {
      return new RpcError({ code: -32603, message: "no answer" });
    }
    return answer.error ? new RpcError(answer.error) : answer.result;
  });
}

// --- blocks -------------------------------------------------------------------------------------

function summarize(block) {
  const extra = decodeQbftExtraData(block.extraData);
  return {
    number: int(block.number),
    hash: block.hash,
    timestamp: int(block.timestamp),
    proposer: block.miner,
    txs: block.transactions.length,
    gasUsed: int(block.gasUsed),
    gasLimit: int(block.gasLimit),
    round: extra ? extra.round : null,
    seals: extra ? extra.seals : null,
    validatorCount: extra ? extra.validators.length : null,
  };
}

async function loadBlocks(numbers) {
  const wanted = numbers.filter((n) => n >= 0 && !state.blocks.has(n));
  for (let i = 0; i < wanted.length; i += 64) {
    const part = wanted.slice(i, i + 64);
    const found = await batch(part.map((n) => ["eth_getBlockByNumber", ["0x" + n.toString(16), false]]));
    for (const block of found) {
      if (block && !(block instanceof Error)) {
        const summary = summarize(block);
        state.blocks.set(summary.number, summary);
      }
    }
  }
  // Keep what the page shows, and a little more.
  const keepFrom = (state.head ?? 0) - WINDOW - 2;
  for (const number of state.blocks.keys()) {
    if (number < keepFrom) {
      state.blocks.delete(number);
    }
  }
}

// The last WINDOW blocks and the parent of the first; never the genesis block, whose timestamp is
// when the chain was configured, not when a block was made.
function windowBlocks() {
  const list = [];
  for (let n = Math.max(1, state.head - WINDOW); n <= state.head; n += 1) {
    const block = state.blocks.get(n);
    if (block) {
      list.push(block);
    }
  }
  return list;
}

function entityOf(address) {
  if (!address) {
    return undefined;
  }
  const key = address.toLowerCase();
  return state.entities.get(key) ?? state.candidates.get(key);
}

function addressCell(address) {
  const entity = entityOf(address);
  return el(
    "td",
    { class: "who", title: address ?? "" },
    entity ? el("span", { class: "entity" }, entity, " ") : null,
    lookupLink(short(address), address, "mono subtle"),
  );
}

function lookupLink(text, query, className = "mono") {
  return el("a", { href: "#", class: className, onclick: (event) => { event.preventDefault(); runLookup(query); } }, text);
}

function renderStats() {
  setText("head-number", state.head === null ? "—" : state.head.toLocaleString("en-US"));
  setText("finalized-number", state.finalized === null ? "—" : state.finalized.toLocaleString("en-US"));
  const headBlock = state.blocks.get(state.head);
  setText("head-age", headBlock ? age(headBlock.timestamp) : "");
  const blocks = windowBlocks();
  const txs = blocks.slice(1).reduce((sum, b) => sum + b.txs, 0);
  if (blocks.length >= 2) {
    const span = blocks[blocks.length - 1].timestamp - blocks[0].timestamp;
    const intervals = blocks.length - 1;
    setText("avg-block-time", `${(span / intervals).toFixed(2)} s`);
    setText("avg-tps", span > 0 ? (txs / span).toFixed(2) : "—");
    setText("window-note", `mean of the last ${intervals} blocks`);
    setText("tx-total", `${txs.toLocaleString("en-US")} transactions in ${span} s`);
  }
}

function renderCharts() {
  const blocks = windowBlocks();
  const timePoints = [];
  const tpsPoints = [];
  for (let i = 1; i < blocks.length; i += 1) {
    const block = blocks[i];
    const parent = blocks[i - 1];
    if (parent.number !== block.number - 1) {
      continue;
    }
    const dt = block.timestamp - parent.timestamp;
    const label = `#${block.number}`;
    timePoints.push({ label, value: dt, title: `block ${block.number}: ${dt} s` });
    const tps = dt > 0 ? block.txs / dt : block.txs;
    tpsPoints.push({ label, value: tps, title: `block ${block.number}: ${block.txs} txs, ${tps.toFixed(2)} tx/s` });
  }
  const caption = timePoints.length ? `last ${timePoints.length} blocks` : "";
  setText("bt-caption", caption);
  setText("tps-caption", caption);
  barChart($("chart-block-time"), timePoints, { unit: "s", emptyText: "waiting for blocks" });
  barChart($("chart-tps"), tpsPoints, { unit: "tx/s", emptyText: "waiting for blocks" });
}

function renderBlocks() {
  const rows = [];
  for (let n = state.head; n >= 0 && rows.length < LATEST_ROWS; n -= 1) {
    const b = state.blocks.get(n);
    if (!b) {
      continue;
    }
    const seals = b.seals === null ? "—" : `${b.seals} of ${b.validatorCount}`;
    rows.push(
      el(
        "tr",
        { "data-number": String(b.number) },
        el("td", {}, lookupLink(b.number.toLocaleString("en-US"), String(b.number), "num-link")),
        el("td", { class: "subtle", "data-ts": String(b.timestamp) }, age(b.timestamp)),
        addressCell(b.proposer),
        el("td", { class: "num" }, b.round ?? "—"),
        el("td", { class: "num" }, b.txs),
        el("td", { class: "num" }, seals),
        el("td", { class: "num" }, b.gasUsed.toLocaleString("en-US")),
        el("td", {}, lookupLink(short(b.hash, 10, 6), b.hash)),
      ),
    );
  }
  $("blocks").tBodies[0].replaceChildren(...rows);
}

function refreshAges() {
  for (const cell of document.querySelectorAll("[data-ts]")) {
    cell.textContent = age(Number(cell.getAttribute("data-ts")));
  }
  const headBlock = state.blocks.get(state.head);
  if (headBlock) {
    setText("head-age", age(headBlock.timestamp));
  }
}

function renderAll() {
  renderStats();
  renderCharts();
  renderBlocks();
  renderValidators();
}

// --- validators and governance ------------------------------------------------------------------

function statusBadge(attestation) {
  if (!attestation) {
    return el("span", { class: "badge none" }, "none");
  }
  const kind = { Valid: "ok", Pending: "warn", Revoked: "bad" }[attestation.status] ?? "none";
  const since = attestation.status === "Valid" && int(attestation.approvedAt) ? ` since #${int(attestation.approvedAt)}` : "";
  return el("span", {}, el("span", { class: `badge ${kind}` }, attestation.status), el("span", { class: "subtle" }, since));
}

function renderValidators() {
  const counted = windowBlocks().slice(1); // the blocks of the window, without the first one's parent
  const proposed = new Map();
  for (const b of counted) {
    const key = (b.proposer ?? "").toLowerCase();
    proposed.set(key, (proposed.get(key) ?? 0) + 1);
  }
  const rows = state.validators.map(({ address, attestation }) =>
    el(
      "tr",
      { "data-address": address },
      el("td", {}, lookupLink(short(address, 8, 6), address)),
      el("td", { class: "entity-cell" }, attestation ? attestation.entityName : el("span", { class: "subtle" }, "no attestation")),
      el("td", { class: "mono" }, attestation ? attestation.corporateNumber : "—"),
      el("td", {}, attestation ? attestation.jurisdiction : "—"),
      el("td", {}, attestation ? attestation.region : "—"),
      el("td", { class: "status" }, statusBadge(attestation)),
      el("td", { class: "num" }, proposed.get(address.toLowerCase()) ?? 0),
    ),
  );
  $("validators").tBodies[0].replaceChildren(...rows);
  setText("validator-count", state.validators.length ? String(state.validators.length) : "—");
  setText("validators-caption", state.validators.length ? `at block ${state.validatorsAt} · proposals counted over the last ${counted.length} blocks` : "");
}

function named(address) {
  return entityOf(address) ?? short(address);
}

function eventDetails(event) {
  const a = event.args;
  switch (event.event) {
    case "AttestationSubmitted":
      return `${a.entityName} · 法人番号 ${a.corporateNumber} · ${a.jurisdiction} ${a.region}`;
    case "AttestationApproved":
      return `approved by ${named(a.approver)}: ${int(a.approvals)} of ${int(a.quorum)}`;
    case "AttestationValid":
      return `valid: approved by ${a.approvedBy.length}`;
    case "RevocationVoted":
      return `revocation vote by ${named(a.approver)}: ${int(a.votes)} of ${int(a.quorum)}`;
    case "AttestationRevoked":
      return `revoked by ${a.revokedBy.length}`;
    case "ValidatorsSynced":
      return `validator set: ${a.validators.length}`;
    default:
      return "";
  }
}

function renderEvents(events, count, first, last) {
  const newest = events.slice(-EVENT_ROWS).reverse();
  const rows = newest.map((event) =>
    el(
      "tr",
      {},
      el("td", {}, lookupLink(String(int(event.blockNumber)), String(int(event.blockNumber)), "num-link")),
      el("td", {}, el("span", { class: "event-name" }, event.event)),
      event.args.validator ? addressCell(event.args.validator) : el("td", { class: "subtle" }, "—"),
      el("td", { class: "details" }, eventDetails(event)),
      el("td", {}, lookupLink(short(event.transactionHash, 10, 6), event.transactionHash)),
    ),
  );
  if (rows.length === 0) {
    rows.push(el("tr", {}, el("td", { colspan: "5", class: "subtle" }, "No registry events in these blocks.")));
  }
  $("events").tBodies[0].replaceChildren(...rows);
  setText("events-caption", `blocks ${first.toLocaleString("en-US")}–${last.toLocaleString("en-US")}, ${count} events`);
}

// The registry's events are read once over the last EVENT_RANGE blocks, then only for the blocks
// added since: the node scans every header of a range.
async function refreshSlow() {
  state.lastSlowRefresh = Date.now();
  const head = state.head ?? 0;
  let first = state.eventsTo === null ? 0 : state.eventsTo + 1;
  if (head - first + 1 > EVENT_RANGE) {
    // First read, or away longer than the range: start over from the last EVENT_RANGE blocks.
    first = Math.max(0, head - EVENT_RANGE + 1);
    Object.assign(state, { events: [], eventCount: 0, eventsFrom: null });
  }
  const hex = (n) => "0x" + n.toString(16);
  const calls = [
    ["jsc_getValidators", [hex(head)]],
    ["net_peerCount", []],
  ];
  if (first <= head) {
    calls.push(["jsc_getGovernanceEvents", [hex(first), hex(head)]]);
  }
  const [validators, peers, events = []] = await batch(calls);
  if (validators instanceof Error) {
    // A chain without the validator registry (no config.jsc): the QBFT set alone.
    state.jscAvailable = false;
    const plain = await rpc("qbft_getValidatorsByBlockNumber", [hex(head)]);
    state.validators = (plain ?? []).map((address) => ({ address, attestation: null }));
  } else {
    state.validators = validators ?? [];
  }
  state.validatorsAt = head;
  state.entities = new Map(
    state.validators.filter((v) => v.attestation).map((v) => [v.address.toLowerCase(), v.attestation.entityName]),
  );
  if (events instanceof Error) {
    $("events").tBodies[0].replaceChildren(
      el("tr", {}, el("td", { colspan: "5", class: "subtle" }, state.jscAvailable ? events.message : "This chain has no validator registry.")),
    );
    setText("events-caption", "");
  } else {
    for (const event of events) {
      if (event.event === "AttestationSubmitted") {
        state.candidates.set(event.args.validator.toLowerCase(), event.args.entityName);
      }
    }
    state.eventsFrom ??= first;
    state.eventsTo = head;
    state.eventCount += events.length;
    state.events = state.events.concat(events).slice(-EVENT_ROWS);
    renderEvents(state.events, state.eventCount, state.eventsFrom, state.eventsTo);
  }
  setText("peer-count", peers instanceof Error ? "" : `${int(peers)} peers connected`);
  renderValidators();
  renderBlocks();
}

// --- head updates ---------------------------------------------------------------------------------

let queue = Promise.resolve();

function serially(task) {
  queue = queue.then(task).catch((err) => showProblem(`Could not read the chain: ${err.message}`));
  return queue;
}

async function advanceTo(number) {
  if (state.head !== null && number <= state.head && state.blocks.has(number)) {
    return;
  }
  const from = Math.max(0, number - WINDOW - 1);
  const wanted = [];
  for (let n = from; n <= number; n += 1) {
    wanted.push(n);
  }
  state.head = number;
  await loadBlocks(wanted);
  const finalized = await rpc("eth_getBlockByNumber", ["finalized", false]);
  state.finalized = finalized ? int(finalized.number) : null;
  if (Date.now() - state.lastSlowRefresh > SLOW_REFRESH_MS) {
    await refreshSlow();
  }
  showProblem("");
  renderAll();
}

function onNewHead(header) {
  const number = int(header.number);
  serially(() => advanceTo(Math.max(number, state.head ?? 0)));
}

async function start() {
  const [chainId, client, head] = await batch([
    ["eth_chainId", []],
    ["web3_clientVersion", []],
    ["eth_blockNumber", []],
  ]);
  if (!(chainId instanceof Error)) {
    setText("chain-id", `chain ${int(chainId)}`);
  }
  if (!(client instanceof Error)) {
    setText("client", client);
  }
  if (head instanceof Error) {
    throw head;
  }
  state.head = null;
  await advanceTo(int(head));
  await refreshSlow();
}

// --- live: eth_subscribe("newHeads") ---------------------------------------------------------------

let retryMs = 1000;

function setLive(kind, text) {
  $("live").setAttribute("data-state", kind);
  setText("live-text", text);
}

function connect() {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const socket = new WebSocket(`${scheme}://${location.host}${location.pathname.replace(/[^/]*$/, "")}ws`);
  let subscription = null;
  socket.addEventListener("open", () => {
    socket.send(JSON.stringify({ jsonrpc: "2.0", id: 1, method: "eth_subscribe", params: ["newHeads"] }));
  });
  socket.addEventListener("message", (message) => {
    let data;
    try {
      data = JSON.parse(message.data);
    } catch {
      return;
    }
    if (data.id === 1) {
      if (data.error) {
        setLive("down", `no live updates: ${data.error.message}`);
        return;
      }
      subscription = data.result;
      retryMs = 1000;
      setLive("live", "live");
      // Blocks made while the socket was down, and the validators and events read again.
      serially(async () => {
        await advanceTo(Math.max(int(await rpc("eth_blockNumber")), state.head ?? 0));
        await refreshSlow();
      });
    } else if (data.method === "eth_subscription" && data.params && data.params.subscription === subscription) {
      onNewHead(data.params.result);
    }
  });
  socket.addEventListener("close", () => {
    const wait = retryMs;
    retryMs = Math.min(retryMs * 2, RECONNECT_MAX_MS);
    setLive("down", `reconnecting in ${Math.round(wait / 1000)} s`);
    setTimeout(connect, wait);
  });
}

// --- lookup ---------------------------------------------------------------------------------------

function row(key, label, ...value) {
  return el("div", { class: "kv", "data-key": key }, el("dt", {}, label), el("dd", {}, ...value));
}

function showLookup(...children) {
  const result = $("lookup-result");
  result.hidden = false;
  result.replaceChildren(...children);
}

function renderLookup(title, rows) {
  showLookup(el("h3", {}, title), el("dl", {}, ...rows));
}

async function lookupBlock(id) {
  const byHash = typeof id === "string" && id.length === 66;
  const block = await rpc(byHash ? "eth_getBlockByHash" : "eth_getBlockByNumber", [id, false]);
  if (!block) {
    return false;
  }
  const b = summarize(block);
  renderLookup(`Block ${b.number.toLocaleString("en-US")}`, [
    row("number", "Number", String(b.number)),
    row("hash", "Hash", el("span", { class: "mono" }, b.hash)),
    row("parent", "Parent", lookupLink(block.parentHash, block.parentHash)),
    row("time", "Time", `${new Date(b.timestamp * 1000).toISOString().replace(".000Z", "Z")} (${age(b.timestamp)})`),
    row("proposer", "Proposer", el("span", { class: "mono" }, b.proposer), entityOf(b.proposer) ? ` · ${entityOf(b.proposer)}` : ""),
    row("round", "Round", b.round ?? "—"),
    row("seals", "Commit seals", b.seals === null ? "—" : `${b.seals} of ${b.validatorCount} validators`),
    row("txs", "Transactions", String(b.txs)),
    row("gas", "Gas used", `${b.gasUsed.toLocaleString("en-US")} of ${b.gasLimit.toLocaleString("en-US")}`),
    row("basefee", "Base fee", block.baseFeePerGas ? formatGwei(big(block.baseFeePerGas)) : "—"),
  ]);
  return true;
}

async function lookupTransaction(hash) {
  const [tx, receipt] = await batch([
    ["eth_getTransactionByHash", [hash]],
    ["eth_getTransactionReceipt", [hash]],
  ]);
  if (tx instanceof Error) {
    throw tx;
  }
  if (!tx) {
    return false;
  }
  const done = receipt && !(receipt instanceof Error);
  const status = done ? (int(receipt.status) === 1 ? "success" : "failed") : "pending";
  renderLookup("Transaction", [
    row("hash", "Hash", el("span", { class: "mono" }, tx.hash)),
    row("status", "Status", el("span", { class: `badge ${status === "success" ? "ok" : status === "failed" ? "bad" : "warn"}` }, status)),
    row("block", "Block", done ? lookupLink(String(int(receipt.blockNumber)), String(int(receipt.blockNumber)), "num-link") : "—"),
    row("from", "From", lookupLink(tx.from, tx.from)),
    row("to", "To", tx.to ? lookupLink(tx.to, tx.to) : done && receipt.contractAddress ? el("span", {}, "contract created: ", lookupLink(receipt.contractAddress, receipt.contractAddress)) : "—"),
    row("value", "Value", formatEther(big(tx.value))),
    row("nonce", "Nonce", String(int(tx.nonce))),
    row("gasUsed", "Gas used", done ? int(receipt.gasUsed).toLocaleString("en-US") : "—"),
    row("gasPrice", "Effective gas price", done ? formatGwei(big(receipt.effectiveGasPrice)) : "—"),
    row("type", "Type", `${int(tx.type)}${TX_TYPES[int(tx.type)] ? ` (${TX_TYPES[int(tx.type)]})` : ""}`),
    row("logs", "Logs", done ? String(receipt.logs.length) : "—"),
  ]);
  return true;
}

async function lookupAccount(address) {
  const [balance, nonce, code] = await batch([
    ["eth_getBalance", [address, "latest"]],
    ["eth_getTransactionCount", [address, "latest"]],
    ["eth_getCode", [address, "latest"]],
  ]);
  for (const value of [balance, nonce, code]) {
    if (value instanceof Error) {
      throw value;
    }
  }
  const codeSize = (code.length - 2) / 2;
  const entity = entityOf(address);
  renderLookup(codeSize > 0 ? "Contract" : "Account", [
    row("address", "Address", el("span", { class: "mono" }, address)),
    entity ? row("entity", "Validator", entity) : null,
    row("balance", "Balance", formatEther(big(balance))),
    row("nonce", "Nonce", String(int(nonce))),
    row("codeSize", "Code size", `${codeSize.toLocaleString("en-US")} bytes`),
  ].filter(Boolean));
}

async function runLookup(query) {
  const text = query.trim();
  $("lookup-input").value = text;
  showLookup(el("p", { class: "subtle" }, "Looking up…"));
  try {
    if (/^\d+$/.test(text)) {
      if (!(await lookupBlock("0x" + BigInt(text).toString(16)))) {
        showLookup(el("p", { class: "subtle" }, `No block ${text} yet.`));
      }
    } else if (/^0x[0-9a-fA-F]{64}$/.test(text)) {
      if (!(await lookupTransaction(text)) && !(await lookupBlock(text))) {
        showLookup(el("p", { class: "subtle" }, "No transaction or block with this hash."));
      }
    } else if (/^0x[0-9a-fA-F]{40}$/.test(text)) {
      await lookupAccount(text);
    } else if (["latest", "finalized", "safe", "earliest"].includes(text)) {
      await lookupBlock(text);
    } else {
      showLookup(el("p", { class: "problem" }, "Enter a block number, a 32-byte hash (0x + 64 hex digits) or an address (0x + 40)."));
    }
  } catch (err) {
    showLookup(el("p", { class: "problem" }, `The node answered: ${err.message}`));
  }
}

// --- start --------------------------------------------------------------------------------------

$("lookup").addEventListener("submit", (event) => {
  event.preventDefault();
  runLookup($("lookup-input").value);
});
setInterval(refreshAges, 1000);
serially(start).then(connect);
