// What every client-check script shares: its inputs (RPC URL and dev keys from argv or env), the
// one JSON line it prints, and the small contract the EIP-7702 flows delegate to.
//
//   node <script>.mjs <rpc-url> <key> [<second key>]
//   RPC_URL=... DEV_KEY=0x... DEV_KEY_2=0x... node <script>.mjs
//
// A script prints exactly one JSON line on stdout: {"ok": true, ...figures} when its flow ran to
// the end, or {"ok": false, "error": ..., "stage": ...} when a step threw; it exits 0 either way
// so the test can read what happened. BigInts are printed as decimal strings.

export function inputs() {
  const [, , rpcArg, keyArg, key2Arg] = process.argv
  const rpcUrl = rpcArg ?? process.env.RPC_URL
  const key = keyArg ?? process.env.DEV_KEY
  const key2 = key2Arg ?? process.env.DEV_KEY_2
  if (!rpcUrl || !key) {
    console.error('usage: node <script>.mjs <rpc-url> <0x-private-key> [<second key>] (or RPC_URL, DEV_KEY, DEV_KEY_2)')
    process.exit(2)
  }
  return { rpcUrl, key: withPrefix(key), key2: key2 ? withPrefix(key2) : undefined }
}

function withPrefix(key) {
  return key.startsWith('0x') ? key : `0x${key}`
}

export function emit(result) {
  process.stdout.write(
    JSON.stringify(result, (_, v) => (typeof v === 'bigint' ? v.toString() : v)) + '\n',
  )
}

// Runs `body(stage)`; `stage.name = "..."` names the step under way, so a failure says where.
export async function run(body) {
  const stage = { name: 'start' }
  try {
    emit({ ok: true, ...(await body(stage)) })
  } catch (err) {
    emit({
      ok: false,
      stage: stage.name,
      error: String(err?.shortMessage ?? err?.message ?? err),
      details: String(err?.details ?? err?.info?.error?.message ?? err?.error?.message ?? ''),
    })
  }
  // Watchers and keep-alive sockets must not hold the process open.
  process.exit(0)
}

// Runtime code CALLER PUSH0 SSTORE STOP: slot 0 := msg.sender. Delegated to by an EOA, a call to
// the EOA runs it in the EOA's storage, so a call that runs the delegated code is seen in
// eth_getStorageAt(eoa, 0), and it costs a cold SSTORE (22,100 gas) beyond the transaction's
// intrinsic gas: an estimate that ignored the delegation would be short and the send would fail.
export const RECORDER_RUNTIME = '0x335f5500'
// Init code: PUSH4 <runtime> PUSH0 MSTORE PUSH1 4 PUSH1 28 RETURN.
export const RECORDER_INITCODE = '0x63335f55005f526004601cf3'

// EIP-7702: the code of a delegated EOA is 0xef0100 followed by the delegate's address.
export function delegationCode(address) {
  return `0xef0100${address.slice(2).toLowerCase()}`
}

export function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

// Rejects after `ms` so a flow that never completes reports where it hung instead of being killed.
export function within(ms, promise, what) {
  let timer
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: not done after ${ms} ms`)), ms)
    }),
  ])
}
