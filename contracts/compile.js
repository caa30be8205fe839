// Compiles every contracts/*.sol with solc-js (bundled wasm, no network) into build/<Name>.json, and
// every contracts/examples/*.sol (the worked examples of README's "Agent wallets") into
// build/examples/<Name>.json: {abi, bytecode, deployedBytecode, compiler, evmVersion}.
// Run with `make contracts`.
//
// evmVersion is pinned to "prague": solc 0.8.37 defaults to osaka, which py-evm 0.12 cannot run.
"use strict";

const fs = require("fs");
const path = require("path");
const solc = require("solc");

const EVM_VERSION = "prague";
const OPTIMIZER_RUNS = 200;
const here = __dirname;
const buildDir = path.join(here, "build");

// Source names are paths relative to contracts/ ("ERC20Token.sol", "examples/AgentPolicy.sol"); an
// artifact goes to build/ under its source's folder.
const SOURCE_DIRS = ["", "examples"];
const sources = {};
for (const dir of SOURCE_DIRS) {
  for (const file of fs.readdirSync(path.join(here, dir)).filter((f) => f.endsWith(".sol")).sort()) {
    sources[path.posix.join(dir, file)] = { content: fs.readFileSync(path.join(here, dir, file), "utf8") };
  }
}

const input = {
  language: "Solidity",
  sources,
  settings: {
    evmVersion: EVM_VERSION,
    optimizer: { enabled: true, runs: OPTIMIZER_RUNS },
    // No metadata hash: the bytecode then depends only on the source and these settings.
    metadata: { bytecodeHash: "none" },
    outputSelection: { "*": { "*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object"] } },
  },
};

const output = JSON.parse(solc.compile(JSON.stringify(input)));
const problems = (output.errors || []).filter((e) => e.severity === "error");
for (const e of output.errors || []) {
  console.error(e.formattedMessage);
}
if (problems.length > 0) {
  process.exit(1);
}

const compiler = solc.version();
for (const [file, contracts] of Object.entries(output.contracts)) {
  for (const [name, contract] of Object.entries(contracts)) {
    if (contract.evm.bytecode.object === "") {
      continue; // an interface: nothing to deploy
    }
    const artifact = {
      contractName: name,
      sourceName: file,
      abi: contract.abi,
      bytecode: "0x" + contract.evm.bytecode.object,
      deployedBytecode: "0x" + contract.evm.deployedBytecode.object,
      compiler,
      evmVersion: EVM_VERSION,
      optimizer: { enabled: true, runs: OPTIMIZER_RUNS },
    };
    const outDir = path.join(buildDir, path.dirname(file));
    fs.mkdirSync(outDir, { recursive: true });
    const out = path.join(outDir, `${name}.json`);
    fs.writeFileSync(out, JSON.stringify(artifact, null, 2) + "\n");
    console.log(`wrote ${path.relative(here, out)} (${contract.evm.deployedBytecode.object.length / 2} bytes deployed)`);
  }
}
