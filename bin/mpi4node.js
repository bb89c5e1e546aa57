#!/usr/bin/env node
// Entry point of the `mpi4node` command. Published packages run the compiled dist/cli.js; a git
// checkout has no dist/ until it is built, so there we load the TypeScript source through tsx.
import { existsSync } from 'node:fs';

const dist = new URL('../dist/cli/cli.js', import.meta.url);
let cli;
if (existsSync(dist)) {
  cli = await import(dist.href);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  cli = await import(new URL('../lib/cli/cli.ts', import.meta.url).href);
}
process.exitCode = await cli.main(process.argv.slice(2));
