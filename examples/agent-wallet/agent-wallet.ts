// An AI-agent wallet on jsc-node, end to end, with viem (README, "Agent wallets").
//
// The owner's account (an ordinary EOA) delegates to the AgentPolicy contract with EIP-7702, so the
// policy's code runs as the owner's account, with the owner's balance. In the same type-4
// transaction the owner sets the policy: which agent key may spend, how much ether and how much of
// one ERC-20 token a day, which contracts it may call, until when. The agent then spends within
// those limits, is refused beyond them with a clear reason, and is refused altogether once the
// owner revokes it.
//
//   make run                                    # the dev chain, in another terminal
//   cd examples/agent-wallet && npm ci
//   npx tsx agent-wallet.ts                     # [--rpc URL] [--owner-key KEY]
//
// The default owner key is dev account 0 of `make run` (a public, insecure key). The agent is a new
// key made for each run. No send sets its gas: viem asks the node (eth_estimateGas, with the
// authorization list for the type-4 ones), as a wallet does, and a spend the policy refuses is
// refused at that step, with the contract's reason.

import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import {
  type Abi,
  type Address,
  BaseError,
  ContractFunctionRevertedError,
  type Hash,
  type Hex,
  type Log,
  type TransactionReceipt,
  createPublicClient,
  createWalletClient,
  defineChain,
  encodeFunctionData,
  formatEther,
  formatUnits,
  getAddress,
  http,
  parseEther,
  parseEventLogs,
  parseUnits,
  zeroAddress,
} from "viem";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";

const DEFAULT_RPC = "http://127.0.0.1:8545";
// Dev account 0 of `make run` (the `test test ... junk` mnemonic): a public key, never of value.
const DEV_OWNER_KEY: Hex = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
const BUILD_DIR = new URL("../../contracts/build/", import.meta.url);

const TOKEN_SUPPLY = parseUnits("1000000", 18);
const ETHER_PER_DAY = parseEther("1");
const TOKEN_PER_DAY = parseUnits("100", 18);
const AGENT_GAS_MONEY = parseEther("0.1");
const POLICY_LIFETIME_S = 7n * 86_400n;

interface Artifact {
  abi: Abi;
  bytecode: Hex;
}

/** A compiled contract of `make contracts` (contracts/build/examples/<name>.json, else contracts/build/). */
function artifact(name: string): Artifact {
  for (const dir of ["examples/", ""]) {
    try {
      return JSON.parse(readFileSync(new URL(`${dir}${name}.json`, BUILD_DIR), "utf8")) as Artifact;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
    }
  }
  throw new Error(`no build of ${name} in contracts/build: run \`make contracts\``);
}

const eth = (wei: bigint) => `${formatEther(wei)} ETH`;
const jtt = (units: bigint) => `${formatUnits(units, 18)} JTT`;

/** The contract's own words when a step is refused; throws if the step went through. */
async function refusal(step: () => Promise<unknown>): Promise<string> {
  try {
    await step();
  } catch (err) {
    if (err instanceof BaseError) {
      const reverted = err.walk((e) => e instanceof ContractFunctionRevertedError);
      if (reverted instanceof ContractFunctionRevertedError && reverted.reason) return reverted.reason;
      return err.details || err.shortMessage;
    }
    throw err;
  }
  throw new Error("the policy let it through");
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      rpc: { type: "string", default: DEFAULT_RPC },
      "owner-key": { type: "string", default: DEV_OWNER_KEY },
    },
  });
  const rpc = values.rpc as string;
  const transport = http(rpc);
  const chainId = await createPublicClient({ transport }).getChainId();
  const chain = defineChain({
    id: chainId,
    name: "jsc-node",
    nativeCurrency: { name: "Ether", symbol: "ETH", decimals: 18 },
    rpcUrls: { default: { http: [rpc] } },
  });
  const client = createPublicClient({ chain, transport, pollingInterval: 100 });
  const owner = privateKeyToAccount(values["owner-key"] as Hex);
  const agent = privateKeyToAccount(generatePrivateKey());
  const shop = privateKeyToAccount(generatePrivateKey()).address;
  const ownerWallet = createWalletClient({ account: owner, chain, transport });
  const agentWallet = createWalletClient({ account: agent, chain, transport });

  const mined = async (hash: Hash): Promise<TransactionReceipt> => {
    const receipt = await client.waitForTransactionReceipt({ hash, pollingInterval: 100 });
    if (receipt.status !== "success") throw new Error(`transaction ${hash} failed in block ${receipt.blockNumber}`);
    return receipt;
  };
  const deploy = async (name: string, args: readonly unknown[] = []): Promise<Address> => {
    const { abi, bytecode } = artifact(name);
    const receipt = await mined(await ownerWallet.deployContract({ abi, bytecode, args }));
    return getAddress(receipt.contractAddress as Address);
  };
  const events = (abi: Abi, eventName: string, logs: Log[]) =>
    parseEventLogs({ abi, eventName, logs }) as unknown as { args: Record<string, unknown> }[];

  console.log(`chain ${chainId}, block ${await client.getBlockNumber()}`);
  console.log(`owner  ${owner.address}  ${eth(await client.getBalance({ address: owner.address }))}`);
  console.log(`agent  ${agent.address}  (a new key for this run)`);

  const tokenAbi = artifact("ERC20Token").abi;
  const policyAbi = artifact("AgentPolicy").abi;
  const merchantAbi = artifact("Merchant").abi;
  const token = await deploy("ERC20Token", [TOKEN_SUPPLY]);
  const policyCode = await deploy("AgentPolicy");
  const merchant = await deploy("Merchant");
  console.log(`deployed the token JTT at ${token}, AgentPolicy at ${policyCode}`);
  console.log(`deployed a Merchant (the allowlisted target) at ${merchant}`);
  await mined(await ownerWallet.sendTransaction({ to: agent.address, value: AGENT_GAS_MONEY }));
  console.log(`owner gave the agent ${eth(AGENT_GAS_MONEY)} for its gas`);

  // One type-4 transaction the owner sends to itself: the authorization delegates the owner's
  // account to AgentPolicy, and the call data, setPolicy, then runs as the owner's account
  // (msg.sender == address(this): the owner-only check). executor "self": viem signs the
  // authorization for the transaction's nonce + 1, as EIP-7702 requires of a self-sponsored one.
  const expiry = BigInt(Math.floor(Date.now() / 1000)) + POLICY_LIFETIME_S;
  const authorization = await ownerWallet.signAuthorization({ contractAddress: policyCode, executor: "self" });
  let receipt = await mined(
    await ownerWallet.writeContract({
      address: owner.address,
      abi: policyAbi,
      functionName: "setPolicy",
      args: [agent.address, ETHER_PER_DAY, token, TOKEN_PER_DAY, [merchant], expiry],
      authorizationList: [authorization],
    }),
  );
  console.log(
    `owner delegated to AgentPolicy and set the policy in one type-4 transaction ` +
      `(block ${receipt.blockNumber}, gas ${receipt.gasUsed.toLocaleString("en-US")})`,
  );
  const code = await client.getCode({ address: owner.address });
  console.log(`  the owner's code is now 0xef0100 + ${getAddress(`0x${code?.slice(8)}`)}`);
  const until = new Date(Number(expiry) * 1000).toISOString().slice(0, 16).replace("T", " ");
  console.log(
    `  policy: agent ${agent.address}, ${eth(ETHER_PER_DAY)} and ${jtt(TOKEN_PER_DAY)} a day, ` +
      `may call ${merchant}, until ${until} UTC`,
  );

  // The agent calls the owner's own address: its code is now the policy's.
  const asAgent = (functionName: string, args: readonly unknown[]) => () =>
    agentWallet.writeContract({ address: owner.address, abi: policyAbi, functionName, args });

  const before = await client.getBalance({ address: shop });
  receipt = await mined(await asAgent("pay", [shop, parseEther("0.25")])());
  const [etherPaid] = events(policyAbi, "EtherPaid", receipt.logs);
  const gained = (await client.getBalance({ address: shop })) - before;
  console.log(
    `agent paid ${eth(etherPaid.args.amount as bigint)} to ${shop}: EtherPaid event, ` +
      `${eth(etherPaid.args.spentToday as bigint)} spent today; the shop's balance went up by ${eth(gained)}`,
  );

  receipt = await mined(await asAgent("payToken", [shop, parseUnits("40", 18)])());
  const [tokenPaid] = events(policyAbi, "TokenPaid", receipt.logs);
  const held = (await client.readContract({ address: token, abi: tokenAbi, functionName: "balanceOf", args: [shop] })) as bigint;
  console.log(
    `agent paid ${jtt(tokenPaid.args.amount as bigint)} to ${shop}: TokenPaid event, ` +
      `${jtt(tokenPaid.args.spentToday as bigint)} spent today; the shop holds ${jtt(held)}`,
  );

  const buy = encodeFunctionData({ abi: merchantAbi, functionName: "buy", args: ["coffee beans"] });
  receipt = await mined(await asAgent("callTarget", [merchant, parseEther("0.5"), buy])());
  const [called] = events(policyAbi, "TargetCalled", receipt.logs);
  const [purchase] = events(merchantAbi, "Purchase", receipt.logs);
  console.log(
    `agent bought '${purchase.args.item}' from the Merchant for ${eth(purchase.args.price as bigint)} ` +
      `(buyer: the owner's account ${purchase.args.buyer}); ${eth(called.args.spentToday as bigint)} spent today`,
  );

  const [etherLeft, tokenLeft] = (await client.readContract({
    address: owner.address,
    abi: policyAbi,
    functionName: "remainingToday",
  })) as [bigint, bigint];
  console.log(`left today: ${eth(etherLeft)}, ${jtt(tokenLeft)}`);
  let reason = await refusal(asAgent("pay", [shop, parseEther("0.5")]));
  console.log(`agent tried to pay 0.5 ETH: refused, '${reason}' (nothing was sent)`);
  reason = await refusal(asAgent("payToken", [shop, parseUnits("70", 18)]));
  console.log(`agent tried to pay 70 JTT: refused, '${reason}'`);
  // The token contract is not on the allowlist: the agent cannot move the token around its limit.
  const transfer = encodeFunctionData({ abi: tokenAbi, functionName: "transfer", args: [shop, parseUnits("1000", 18)] });
  reason = await refusal(asAgent("callTarget", [token, 0n, transfer]));
  console.log(`agent tried to call the token contract directly (not on the allowlist): refused, '${reason}'`);

  receipt = await mined(
    await ownerWallet.writeContract({ address: owner.address, abi: policyAbi, functionName: "revoke" }),
  );
  console.log(`owner revoked the agent in block ${receipt.blockNumber}`);
  reason = await refusal(asAgent("pay", [shop, parseEther("0.01")]));
  console.log(`agent tried to pay 0.01 ETH: refused, '${reason}'`);

  // An authorization for address 0 removes the account's code (EIP-7702); its storage stays.
  const clear = await ownerWallet.signAuthorization({ contractAddress: zeroAddress, executor: "self" });
  receipt = await mined(await ownerWallet.sendTransaction({ to: owner.address, authorizationList: [clear] }));
  const after = (await client.getCode({ address: owner.address })) ?? "0x";
  console.log(
    `owner removed the delegation (an authorization for address 0, block ${receipt.blockNumber}): ` +
      `the owner's code is ${after}, an ordinary account again`,
  );
  console.log("done");
}

main().catch((err: unknown) => {
  console.error(err instanceof BaseError ? err.message : err);
  process.exit(1);
});
