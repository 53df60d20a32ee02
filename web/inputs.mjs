// The build's inputs and their digest. tests/web/test_build.py computes the same digest
// in Python: SHA-256 over, for each file in sorted path order, its path relative to the
// repository, a NUL byte, its bytes and a NUL byte.
import { createHash } from "node:crypto";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";

const root = new URL("..", import.meta.url).pathname;
const FILES = ["docs/openapi.json", "web/index.html", "web/package-lock.json", "web/vite.config.ts", "web/build.mjs", "web/inputs.mjs", "web/tsconfig.json"];

function walk(dir) {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? walk(path) : [path];
  });
}

export function inputs() {
  const sources = walk(join(root, "web/src"))
    .map((path) => relative(root, path))
    .filter((path) => path !== "web/src/schema.d.ts");
  return [...FILES, ...sources].sort();
}

export function inputsDigest() {
  const hash = createHash("sha256");
  for (const path of inputs()) {
    hash.update(path).update("\0").update(readFileSync(join(root, path))).update("\0");
  }
  return hash.digest("hex");
}
