// viem's multicall on the dev chain (id 1337), whose genesis predeploys Multicall3 at the canonical
// address every chain in viem's list uses. viem finds Multicall3 through the chain definition
// (chain.contracts.multicall3); viem's stock `localhost` chain (id 1337) names none, as its
// `foundry` and `hardhat` chains do not. So "no extra configuration" is read as: the chain
// definition a developer writes for any custom chain (viem's docs: defineChain with
// contracts.multicall3 at the canonical address), and nothing else: no deploy step, no address at
// the call. Also viem's stock chain with the address given at the call (multicallAddress), and
// the stock chain alone, whose answer is viem's own (ChainDoesNotSupportContract) and only reported.
import { createPublicClient, defineChain, http, keccak256, parseAbi, size } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { localhost } from 'viem/chains'
import { inputs, run } from './common.mjs'

export const MULTICALL3 = '0xcA11bde05977b3631167028862bE2a173976CA11'

const { rpcUrl, key } = inputs()
const abi = parseAbi([
  'function getChainId() view returns (uint256)',
  'function getBlockNumber() view returns (uint256)',
  'function getEthBalance(address) view returns (uint256)',
])

const jscDev = defineChain({
  ...localhost,
  name: 'jsc-node dev',
  contracts: { multicall3: { address: MULTICALL3, blockCreated: 0 } },
})

// Runs one way of calling; its failure is recorded, so every way is tried and reported.
async function attempt(body) {
  try {
    return await body()
  } catch (err) {
    return { error: err.name, message: err.shortMessage ?? err.message }
  }
}

await run(async (stage) => {
  const account = privateKeyToAccount(key).address
  const calls = []
  const transport = http(rpcUrl, {
    async onFetchRequest(request) {
      const body = await request.clone().json()
      for (const r of [body].flat()) calls.push(r)
    },
  })
  // eth_call targets of what `body` sent.
  const ethCallsOf = async (body) => {
    calls.length = 0
    const value = await body()
    return { value, ethCalls: calls.filter((c) => c.method === 'eth_call').map((c) => c.params[0].to ?? null) }
  }
  const contracts = [
    { address: MULTICALL3, abi, functionName: 'getChainId' },
    { address: MULTICALL3, abi, functionName: 'getBlockNumber' },
    { address: MULTICALL3, abi, functionName: 'getEthBalance', args: [account] },
    // An address without code: its call returns no data, so this entry fails on its own.
    { address: '0x000000000000000000000000000000000000dEaD', abi, functionName: 'getChainId' },
  ]
  const summary = (results) =>
    results.map((r) => (r.status === 'success' ? { status: r.status, result: r.result } : { status: r.status, error: r.error?.name }))

  stage.name = 'getCode'
  const client = createPublicClient({ chain: jscDev, transport })
  const stock = createPublicClient({ chain: localhost, transport })
  const code = await client.getCode({ address: MULTICALL3 })
  const balance = await client.getBalance({ address: account })

  stage.name = 'multicall'
  // The chain definition's Multicall3: client.multicall and readContract batching.
  const viaChain = await attempt(() => ethCallsOf(async () => summary(await client.multicall({ contracts }))))
  const batching = createPublicClient({ chain: jscDev, transport, batch: { multicall: true } })
  const batched = await attempt(() =>
    ethCallsOf(() =>
      Promise.all([
        batching.readContract({ address: MULTICALL3, abi, functionName: 'getChainId' }),
        batching.readContract({ address: MULTICALL3, abi, functionName: 'getEthBalance', args: [account] }),
        batching.readContract({ address: MULTICALL3, abi, functionName: 'getBlockNumber' }),
      ]),
    ),
  )
  // viem's stock `localhost`: the address at the call, and nothing (viem's own answer).
  const viaAddress = await attempt(async () => summary(await stock.multicall({ contracts, multicallAddress: MULTICALL3 })))
  const stockLocalhost = await attempt(async () => summary(await stock.multicall({ contracts })))

  return {
    multicall3: MULTICALL3,
    codeSize: code ? size(code) : 0,
    codeHash: code ? keccak256(code) : null,
    balance,
    viaChain,
    batched,
    viaAddress,
    stockLocalhost,
  }
})
