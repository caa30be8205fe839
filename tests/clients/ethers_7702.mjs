// ethers v6: EIP-7702 type-4 sends with no gasLimit, so ethers asks the node for eth_estimateGas
// with the authorization list and sends what the node estimated.
//  1. sponsored: the authority signs `wallet.authorize({address})` (ethers fills chainId and the
//     authority's nonce), the sponsor sends it in a transaction to the authority;
//  2. self-sponsored revocation: the authority authorizes the zero address with nonce+1 (its own
//     transaction takes nonce) and sends it itself: the delegation is cleared (code 0x).
// argv: <rpc-url> <sponsor key> <authority key>.
import { ContractFactory, JsonRpcProvider, Wallet, ZeroAddress } from 'ethers'
import { delegationCode, inputs, RECORDER_INITCODE, run } from './common.mjs'

const { rpcUrl, key, key2 } = inputs()
if (!key2) throw new Error('ethers_7702.mjs needs a second key (the authority)')

await run(async (stage) => {
  const provider = new JsonRpcProvider(rpcUrl)
  // The checks read through a provider without ethers' 250 ms cache of identical requests: two
  // getCode(authority) calls less than 250 ms apart would otherwise get one answer.
  const reader = new JsonRpcProvider(rpcUrl, undefined, { cacheTimeout: -1 })
  const sponsor = new Wallet(key, provider)
  const authority = new Wallet(key2, provider)

  // The authority deploys the delegate, so the sponsor's nonce is not read twice within ethers'
  // 250 ms request cache (see ethers_cache.mjs).
  stage.name = 'deploy delegate'
  const contract = await new ContractFactory([], RECORDER_INITCODE, authority).deploy()
  await contract.waitForDeployment()
  const delegate = await contract.getAddress()

  stage.name = 'authorize (sponsored)'
  const auth = await authority.authorize({ address: delegate })
  stage.name = 'sendTransaction (sponsored)'
  const sent = await sponsor.sendTransaction({ to: authority.address, authorizationList: [auth] })
  stage.name = 'wait (sponsored)'
  const receipt = await sent.wait(1, 30_000)
  const sponsored = {
    authorizationNonce: auth.nonce,
    type: sent.type,
    gasLimit: sent.gasLimit,
    status: receipt.status,
    gasUsed: receipt.gasUsed,
    code: await reader.getCode(authority.address),
    expectedCode: delegationCode(delegate),
    slot0: await reader.getStorage(authority.address, 0),
  }

  stage.name = 'authorize (revoke, self)'
  const nonce = await reader.getTransactionCount(authority.address, 'pending')
  const revoke = await authority.authorize({ address: ZeroAddress, nonce: nonce + 1 })
  stage.name = 'sendTransaction (revoke, self)'
  const sent2 = await authority.sendTransaction({ to: authority.address, authorizationList: [revoke] })
  stage.name = 'wait (revoke, self)'
  const receipt2 = await sent2.wait(1, 30_000)
  const revoked = {
    authorizationNonce: revoke.nonce,
    txNonce: sent2.nonce,
    type: sent2.type,
    gasLimit: sent2.gasLimit,
    status: receipt2.status,
    gasUsed: receipt2.gasUsed,
    code: await reader.getCode(authority.address),
  }
  return { sponsor: sponsor.address, authority: authority.address, delegate, sponsored, revoked }
})
