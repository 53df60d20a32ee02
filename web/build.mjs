// Builds the web client into src/gamehub/web/static: generates the API types from
// docs/openapi.json, type-checks, bundles with Vite, and records a hash of every input so
// that tests/web/test_build.py fails when the committed build is stale.
import { execFileSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { inputsDigest } from "./inputs.mjs";

const run = (command, ...args) => execFileSync(command, args, { stdio: "inherit" });
run("npx", "--no-install", "openapi-typescript", "../docs/openapi.json", "--output", "src/schema.d.ts");
run("npx", "--no-install", "tsc", "-p", ".");
run("npx", "--no-install", "vite", "build");
writeFileSync("../src/gamehub/web/static/inputs.sha256", `${inputsDigest()}\n`);
