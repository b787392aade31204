/**
 * Stops `npm ci`, `npm start` and `npm test` at once, with one line, on a Node.js older than the
 * project's `engines`. Without it, an old Node fails deep in the `prepare` script with
 * ERR_UNKNOWN_FILE_EXTENSION ".ts", which says nothing about the version.
 *
 * CommonJS and plain ES2015 on purpose: it must run on whatever Node the machine has.
 */
'use strict';
const { readFileSync } = require('node:fs');
const { join } = require('node:path');

const range = JSON.parse(readFileSync(join(__dirname, '..', 'package.json'), 'utf8')).engines.node;
const wanted = /^>=\s*(\d+)\.(\d+)/.exec(range);
if (!wanted) throw new Error(`scripts/check-node.cjs understands only ">=X.Y" engines, not "${range}"`);
const [major, minor] = process.versions.node.split('.').map(Number);
const [needMajor, needMinor] = [Number(wanted[1]), Number(wanted[2])];
if (major < needMajor || (major === needMajor && minor < needMinor)) {
  console.error(
    `Streamlens needs Node.js ${range} (24 LTS is the target), and this is ${process.version}: run eval "$(scripts/ensure-node.sh)" first, then try again.`,
  );
  process.exit(1);
}
