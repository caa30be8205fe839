// An idle dev chain as a wallet sees it, with each client's defaults (viem polls every 4 s on a
// chain without blockTime, ethers every 4 s):
//  1. viem's watchBlocks and ethers' provider.on("block"), no transactions sent: each must see
//     new blocks (two events each) within WATCH_MS;
//  2. then one transfer and viem's waitForTransactionReceipt({confirmations: 3}), which needs two
//     blocks after the transaction's block.
// Each phase reports what it saw even when it did not finish in time.
import { JsonRpcProvider } from 'ethers'
import { createPublicClient, createWalletClient, http } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { localhost } from 'viem/chains'
import { inputs, run } from './common.mjs'

const WATCH_MS = 15_000
const CONFIRM_MS = 20_000
const { rpcUrl, key } = inputs()

// Resolves when `count` events were seen or after `ms`, with what was seen by then.
function collect(subscribe, count, ms, started) {
  return new Promise((resolve) => {
    const seen = []
    let unsubscribe = () => {}
    const finish = (done) => {
      clearTimeout(timer)
      unsubscribe()
      resolve({ done, events: seen })
    }
    const timer = setTimeout(() => finish(false), ms)
    unsubscribe = subscribe((number) => {
      seen.push({ number: Number(number), atMs: Math.round(performance.now() - started) })
      if (seen.length >= count) finish(true)
    })
  })
}

await run(async (stage) => {
  const transport = http(rpcUrl)
  const account = privateKeyToAccount(key)
  const client = createPublicClient({ chain: localhost, transport })
  const wallet = createWalletClient({ account, chain: localhost, transport })
  const provider = new JsonRpcProvider(rpcUrl)

  stage.name = 'watch'
  const startBlock = Number(await client.getBlockNumber())
  const started = performance.now()
  const [watchBlocks, providerOnBlock] = await Promise.all([
    collect((on) => client.watchBlocks({ onBlock: (block) => on(block.number) }), 2, WATCH_MS, started),
    collect(
      (on) => {
        provider.on('block', on)
        return () => provider.off('block', on)
      },
      2,
      WATCH_MS,
      started,
    ),
  ])
  const watchMs = Math.round(performance.now() - started)
  const endBlock = Number(await client.getBlockNumber())
  provider.destroy()

  stage.name = 'confirmations'
  const sentAt = performance.now()
  const hash = await wallet.sendTransaction({ to: account.address, value: 1n })
  let confirmations
  try {
    const receipt = await client.waitForTransactionReceipt({ hash, confirmations: 3, timeout: CONFIRM_MS })
    const elapsedMs = Math.round(performance.now() - sentAt)
    const head = await client.getBlockNumber()
    const mined = await client.getBlock({ blockNumber: receipt.blockNumber })
    const third = await client.getBlock({ blockNumber: receipt.blockNumber + 2n })
    confirmations = {
      done: true,
      elapsedMs,
      status: receipt.status,
      blockNumber: Number(receipt.blockNumber),
      headAtResolve: Number(head),
      // Chain time from the transaction's block to the third confirmation, in seconds.
      chainSeconds: Number(third.timestamp - mined.timestamp),
    }
  } catch (err) {
    confirmations = { done: false, elapsedMs: Math.round(performance.now() - sentAt), error: err.name }
  }
  return { startBlock, endBlock, watchMs, watchBlocks, providerOnBlock, confirmations }
})
