// Assemble the playground's static files for the book (npm run build):
//   web/dist/itsweb/      the ES modules and stylesheet of web/src/
//   web/dist/itsweb/ort/  onnxruntime-web's WebAssembly build, from node_modules (npm ci):
//                         nothing is fetched from a CDN when the page runs
// Then `python -m itslib export-web web/dist/itsweb/bundle` adds the models, and
// jupyter-book copies web/dist into _build/html (html_extra_path in _config.yml).
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const web = dirname(fileURLToPath(import.meta.url));
const out = join(web, "dist", "itsweb");
const ort = join(web, "..", "node_modules", "onnxruntime-web");
// the WebAssembly-only entry point and the single build it loads (SIMD; it runs on one
// thread where the page is not cross-origin isolated, as on GitHub Pages)
const RUNTIME = ["ort.wasm.min.mjs", "ort-wasm-simd-threaded.mjs", "ort-wasm-simd-threaded.wasm"];

if (!existsSync(ort)) {
  console.error("node_modules/onnxruntime-web is missing: run `npm ci` first.");
  process.exit(1);
}
rmSync(join(web, "dist"), { recursive: true, force: true });
mkdirSync(join(out, "ort"), { recursive: true });
for (const name of readdirSync(join(web, "src"))) cpSync(join(web, "src", name), join(out, name));
for (const name of RUNTIME) cpSync(join(ort, "dist", name), join(out, "ort", name));
const { version } = JSON.parse(readFileSync(join(ort, "package.json"), "utf8"));
writeFileSync(join(out, "ort", "VERSION"), `onnxruntime-web ${version}\n`);
console.log(`web/dist/itsweb: ${readdirSync(join(web, "src")).length} modules, onnxruntime-web ${version}`);
