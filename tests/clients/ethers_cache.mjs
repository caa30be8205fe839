// ethers v6 answers a request identical to one made less than `cacheTimeout` ms before (250 by
// default) from its own cache, pending nonce included. Where a node seals a transaction at once
// (an idle jsc-node dev chain, Hardhat's automine), a deploy followed at once by a second send can
// reuse the deploy's nonce (ethers issue 4549). The fix is on the client: `cacheTimeout: -1`.
//  1. with `cacheTimeout: -1`: deploy, then at once a transfer: both mined, nonces n and n+1;
//  2. the same with ethers' default provider options, reported as it went (it depends on timing).
import { ContractFactory, JsonRpcProvider, Wallet } from 'ethers'
import { inputs, RECORDER_INITCODE, run } from './common.mjs'

const { rpcUrl, key } = inputs()

async function deployThenSend(provider) {
  const wallet = new Wallet(key, provider)
  const startedAt = performance.now()
  const contract = await new ContractFactory([], RECORDER_INITCODE, wallet).deploy()
  const deployTx = contract.deploymentTransaction()
  await contract.waitForDeployment()
  const deployedMs = Math.round(performance.now() - startedAt)
  try {
    const sent = await wallet.sendTransaction({ to: await contract.getAddress(), value: 0n })
    const receipt = await sent.wait(1, 30_000)
    return { deployNonce: deployTx.nonce, deployedMs, sendNonce: sent.nonce, sendStatus: receipt.status }
  } catch (err) {
    return { deployNonce: deployTx.nonce, deployedMs, error: err.code ?? err.name, message: err.shortMessage ?? err.message }
  }
}

await run(async (stage) => {
  stage.name = 'cacheTimeout -1'
  const noCache = await deployThenSend(new JsonRpcProvider(rpcUrl, undefined, { cacheTimeout: -1 }))
  stage.name = 'default cacheTimeout'
  const defaults = await deployThenSend(new JsonRpcProvider(rpcUrl))
  return { noCache, defaults }
})
