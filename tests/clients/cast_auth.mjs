// Foundry's cast 1.7 (the @foundry-rs/cast package's binary): `cast send --auth <delegate> <to>`,
// as the "Done when" names it. With an address, cast signs the authorization itself with
// the sender's key and nonce+1 (the sender's own transaction takes nonce), asks eth_estimateGas
// with that authorization list, and sends a type-4 transaction; no gas is given here.
// The delegate is deployed first with `cast send --create`.
import { execFile } from 'node:child_process'
import { createRequire } from 'node:module'
import { promisify } from 'node:util'
import { privateKeyToAccount } from 'viem/accounts'
import { delegationCode, inputs, RECORDER_INITCODE, run } from './common.mjs'

// The binary of the platform package @foundry-rs/cast installs, run directly: the package's
// node wrapper (node_modules/.bin/cast) exits 0 even when cast fails.
const ARCH = { x64: 'amd64', arm64: 'arm64' }[process.arch] ?? process.arch
const EXE = process.platform === 'win32' ? 'cast.exe' : 'cast'
const CAST = createRequire(import.meta.url).resolve(`@foundry-rs/cast-${process.platform}-${ARCH}/bin/${EXE}`)
const { rpcUrl, key } = inputs()

async function cast(...args) {
  try {
    const { stdout } = await promisify(execFile)(CAST, args, { timeout: 60_000 })
    return stdout.trim()
  } catch (err) {
    throw new Error(`cast ${args[0]}: ${String(err.stderr || err.message).trim()}`)
  }
}

await run(async (stage) => {
  const me = privateKeyToAccount(key).address
  const common = ['--rpc-url', rpcUrl, '--private-key', key, '--timeout', '30', '--poll-interval', '1']
  stage.name = 'cast --version'
  const version = (await cast('--version')).split('\n')[0]

  stage.name = 'cast send --create'
  const deployed = JSON.parse(await cast('send', ...common, '--json', '--create', RECORDER_INITCODE))
  const delegate = deployed.contractAddress

  stage.name = 'cast send --auth'
  const receipt = JSON.parse(await cast('send', ...common, '--json', '--auth', delegate, me))

  stage.name = 'cast tx / code / storage'
  const tx = JSON.parse(await cast('tx', '--rpc-url', rpcUrl, '--json', receipt.transactionHash))
  const code = await cast('code', '--rpc-url', rpcUrl, me)
  const slot0 = await cast('storage', '--rpc-url', rpcUrl, me, '0')
  return {
    version,
    account: me,
    delegate,
    deployStatus: deployed.status,
    status: receipt.status,
    type: receipt.type,
    gasUsed: receipt.gasUsed,
    txGas: tx.gas,
    txNonce: tx.nonce,
    authorizationList: tx.authorizationList,
    code,
    expectedCode: delegationCode(delegate),
    slot0,
  }
})
