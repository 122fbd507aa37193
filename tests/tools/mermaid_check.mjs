// Parse every ```mermaid block of a Markdown file with Mermaid's own parser (npm package "mermaid",
// in a jsdom window); print a line per invalid block and exit 1 if any.
// Usage: node mermaid_check.mjs <node_modules folder> <file.md>
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

const [modules, file] = process.argv.slice(2);
const require = createRequire(join(modules, "index.js"));
const { JSDOM } = require("jsdom");
const dom = new JSDOM("<!doctype html><html><body></body></html>");
globalThis.window = dom.window;
globalThis.document = dom.window.document;
const { default: mermaid } = await import(pathToFileURL(require.resolve("mermaid")).href);

const blocks = [...readFileSync(file, "utf8").matchAll(/```mermaid\n([\s\S]*?)```/g)].map((m) => m[1]);
let invalid = 0;
for (const block of blocks) {
  try {
    await mermaid.parse(block);
  } catch (err) {
    invalid += 1;
    console.log(`invalid: ${String(err.message || err).split("\n")[0]}`);
  }
}
console.log(`${blocks.length} mermaid blocks, ${invalid} invalid`);
process.exit(invalid ? 1 : 0);
