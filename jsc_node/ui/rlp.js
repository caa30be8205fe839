// RLP decoding (Ethereum Yellow Paper, appendix B), enough to read a QBFT header's extraData:
// RLP([vanity (32 bytes), [validators], vote ([] or [address, 0xff | 0x]), round, [commit seals]])
// (jsc_node/chainformat.py; Besu's QbftExtraDataCodec).

export function hexToBytes(hex) {
  const text = hex.startsWith("0x") || hex.startsWith("0X") ? hex.slice(2) : hex;
  if (text.length % 2 !== 0 || /[^0-9a-fA-F]/.test(text)) {
    throw new Error("not hex");
  }
  const bytes = new Uint8Array(text.length / 2);
  for (let i = 0; i < bytes.length; i += 1) {
    bytes[i] = parseInt(text.substr(i * 2, 2), 16);
  }
  return bytes;
}

export function bytesToHex(bytes) {
  return "0x" + Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

function readLength(bytes, start, size) {
  if (start + size > bytes.length) {
    throw new Error("RLP length runs past the end");
  }
  let value = 0;
  for (let i = 0; i < size; i += 1) {
    value = value * 256 + bytes[start + i];
  }
  return value;
}

function decodeAt(bytes, pos) {
  const prefix = bytes[pos];
  if (prefix === undefined) {
    throw new Error("RLP item missing");
  }
  let start;
  let length;
  let isList = false;
  if (prefix < 0x80) {
    return [bytes.subarray(pos, pos + 1), pos + 1];
  } else if (prefix < 0xb8) {
    start = pos + 1;
    length = prefix - 0x80;
  } else if (prefix < 0xc0) {
    const size = prefix - 0xb7;
    length = readLength(bytes, pos + 1, size);
    start = pos + 1 + size;
  } else if (prefix < 0xf8) {
    start = pos + 1;
    length = prefix - 0xc0;
    isList = true;
  } else {
    const size = prefix - 0xf7;
    length = readLength(bytes, pos + 1, size);
    start = pos + 1 + size;
    isList = true;
  }
  const end = start + length;
  if (end > bytes.length) {
    throw new Error("RLP item runs past the end");
  }
  if (!isList) {
    return [bytes.subarray(start, end), end];
  }
  const items = [];
  let at = start;
  while (at < end) {
    const [item, next] = decodeAt(bytes, at);
    items.push(item);
    at = next;
  }
  if (at !== end) {
    throw new Error("RLP list length mismatch");
  }
  return [items, end];
}

export function rlpDecode(bytes) {
  const [item, end] = decodeAt(bytes, 0);
  if (end !== bytes.length) {
    throw new Error("trailing bytes after the RLP item");
  }
  return item;
}

function toNumber(bytes) {
  let value = 0;
  for (const b of bytes) {
    value = value * 256 + b;
  }
  return value;
}

// { validators: [0x-address], vote: null | {address, add}, round, seals } or null if the
// extraData is not QBFT's.
export function decodeQbftExtraData(hex) {
  try {
    const items = rlpDecode(hexToBytes(hex));
    if (!Array.isArray(items) || items.length !== 5) {
      return null;
    }
    const [, validators, vote, round, seals] = items;
    if (!Array.isArray(validators) || !Array.isArray(vote) || Array.isArray(round) || !Array.isArray(seals)) {
      return null;
    }
    return {
      validators: validators.map((v) => bytesToHex(v)),
      vote: vote.length === 2 ? { address: bytesToHex(vote[0]), add: vote[1].length === 1 && vote[1][0] === 0xff } : null,
      round: toNumber(round),
      seals: seals.length,
    };
  } catch (err) {
    return null;
  }
}
