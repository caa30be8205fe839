// Compiles every contracts/*.sol with solc-js (bundled wasm, no network) into build/<Name>.json:
// {abi, bytecode, deployedBytecode, compiler, evmVersion}. Run with `make contracts`.
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

const sources = {};
for (const file of fs.readdirSync(here).filter((f) => f.endsWith(".sol")).sort()) {
  sources[file] = { content: fs.readFileSync(path.join(here, file), "utf8") };
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

fs.mkdirSync(buildDir, { recursive: true });
const compiler = solc.version();
for (const [file, contracts] of Object.entries(output.contracts)) {
  for (const [name, contract] of Object.entries(contracts)) {
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
    const out = path.join(buildDir, `${name}.json`);
    fs.writeFileSync(out, JSON.stringify(artifact, null, 2) + "\n");
    console.log(`wrote ${path.relative(here, out)} (${contract.evm.deployedBytecode.object.length / 2} bytes deployed)`);
  }
}
