// ethers v6 answers a request identical to one made less than `cacheTimeout` ms before (250 by
// default) from its own cache, the pending nonce included (ethers issue 4549). A deploy followed
// at once by a second send from the same wallet then gets the deploy's nonce again. The fix is on
// the client: `cacheTimeout: -1`.
//  1. with `cacheTimeout: -1`: deploy, and at once (no wait) a second send: the node's pending
//     nonce counts the deploy, so the send takes n+1, and both are mined;
//  2. the same with ethers' default options: reported as it went (ethers' cache, not the node).
import { ContractFactory, JsonRpcProvider, Wallet } from 'ethers'
import { inputs, RECORDER_INITCODE, run } from './common.mjs'

const { rpcUrl, key } = inputs()

async function deployThenSend(provider, wait) {
  const wallet = new Wallet(key, provider)
  const contract = await new ContractFactory([], RECORDER_INITCODE, wallet).deploy()
  const deployTx = contract.deploymentTransaction()
  let sent
  try {
    sent = await wallet.sendTransaction({ to: wallet.address, value: 0n })
  } catch (err) {
    if (wait) await deployTx.wait(1, 30_000)
    return { deployNonce: deployTx.nonce, error: err.code ?? err.name, message: err.shortMessage ?? err.message }
  }
  if (!wait) return { deployNonce: deployTx.nonce, sendNonce: sent.nonce }
  const [deployed, receipt] = await Promise.all([deployTx.wait(1, 30_000), sent.wait(1, 30_000)])
  return {
    deployNonce: deployTx.nonce,
    deployStatus: deployed.status,
    sendNonce: sent.nonce,
    sendStatus: receipt.status,
  }
}

await run(async (stage) => {
  stage.name = 'cacheTimeout -1'
  const noCache = await deployThenSend(new JsonRpcProvider(rpcUrl, undefined, { cacheTimeout: -1 }), true)
  stage.name = 'default cacheTimeout'
  // Not waited for: the node seals what it accepted anyway.
  const defaults = await deployThenSend(new JsonRpcProvider(rpcUrl), false)
  return { noCache, defaults }
})
