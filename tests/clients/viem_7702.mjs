// viem: a self-sponsored EIP-7702 delegation as viem's docs write it: signAuthorization with
// executor 'self', then sendTransaction with the authorizationList and no gas, so viem asks the
// node for eth_estimateGas with the authorization list and sends what the node estimated.
import { createPublicClient, createWalletClient, http } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { localhost } from 'viem/chains'
import { delegationCode, inputs, RECORDER_INITCODE, run } from './common.mjs'

const { rpcUrl, key } = inputs()

await run(async (stage) => {
  const methods = []
  const transport = http(rpcUrl, {
    async onFetchRequest(request) {
      const body = await request.clone().json()
      for (const r of [body].flat()) methods.push(r.method)
    },
  })
  const account = privateKeyToAccount(key)
  // viem's own chain definition for id 1337; nothing jsc-node specific.
  const wallet = createWalletClient({ account, chain: localhost, transport })
  const client = createPublicClient({ chain: localhost, transport })

  stage.name = 'deploy delegate'
  const deployHash = await wallet.deployContract({ abi: [], bytecode: RECORDER_INITCODE })
  const deployed = await client.waitForTransactionReceipt({ hash: deployHash, timeout: 30_000 })
  const delegate = deployed.contractAddress

  stage.name = 'signAuthorization'
  const authorization = await wallet.signAuthorization({ contractAddress: delegate, executor: 'self' })

  stage.name = 'sendTransaction'
  methods.length = 0
  const hash = await wallet.sendTransaction({ authorizationList: [authorization], to: account.address })
  const sendMethods = [...methods]

  stage.name = 'waitForTransactionReceipt'
  const receipt = await client.waitForTransactionReceipt({ hash, timeout: 30_000 })
  const tx = await client.getTransaction({ hash })
  const code = await client.getCode({ address: account.address })
  const slot0 = await client.getStorageAt({ address: account.address, slot: '0x0' })
  return {
    account: account.address,
    delegate,
    authorizationNonce: authorization.nonce,
    txNonce: tx.nonce,
    status: receipt.status,
    type: receipt.type,
    gasLimit: tx.gas,
    gasUsed: receipt.gasUsed,
    code,
    expectedCode: delegationCode(delegate),
    slot0,
    sendMethods,
  }
})
