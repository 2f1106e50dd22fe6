#!/usr/bin/env node
/*
 * A solc-compatible command line over solc-js (the npm `solc` package, wasm).
 *
 * Why: no native solc binary is reachable from this project's machines (only
 * the package registries are), and py-solc-x / ape-solidity / Slither all
 * expect a native `solc` on disk. This front end answers the parts of the
 * native CLI those tools use, so the whole toolchain compiles offline:
 *
 *   solc --version                      as native solc prints it
 *   solc --standard-json [-]            JSON on stdin, JSON on stdout
 *        [--base-path DIR] [--include-path DIR]... [--allow-paths A,B]
 *   solc FILE... --combined-json K,K   (for Slither / crytic-compile)
 *
 * Imports are resolved the way native solc resolves them: the source unit
 * name is looked up under the base path, then under each include path; a
 * file found outside the base path, the include paths and the allowed paths
 * is refused with "File outside of allowed directories.".
 *
 * The solc version is whatever `solc` is pinned to in package.json: the one
 * place the project pins it.
 */
'use strict';

const fs = require('fs');
const path = require('path');

const CLI_NAME = 'solc, the solidity compiler commandline interface';

function fail(message, code = 1) {
  process.stderr.write(`Error: ${message}\n`);
  process.exit(code);
}

function parseArgs(argv) {
  const opts = {
    version: false,
    help: false,
    standardJson: false,
    basePath: null,
    includePaths: [],
    allowPaths: [],
    combinedJson: null,
    remappings: [],
    files: [],
    stdin: false,
    optimize: false,
    optimizeRuns: 200,
    evmVersion: null,
    viaIr: false,
  };
  const takesValue = new Set([
    '--base-path', '--include-path', '--allow-paths', '--combined-json',
    '--optimize-runs', '--evm-version',
  ]);
  for (let i = 0; i < argv.length; i++) {
    let arg = argv[i];
    let value = null;
    if (arg.startsWith('--') && arg.includes('=')) {
      [arg, value] = [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)];
    }
    if (takesValue.has(arg) && value === null) {
      if (i + 1 >= argv.length) fail(`option '${arg}' requires an argument`);
      value = argv[++i];
    }
    switch (arg) {
      case '--version': opts.version = true; break;
      case '--help': opts.help = true; break;
      case '--standard-json': opts.standardJson = true; break;
      case '--base-path': opts.basePath = value; break;
      case '--include-path': opts.includePaths.push(value); break;
      case '--allow-paths': opts.allowPaths.push(...value.split(',').filter(Boolean)); break;
      case '--combined-json': opts.combinedJson = value.split(',').filter(Boolean); break;
      case '--optimize': opts.optimize = true; break;
      case '--optimize-runs': opts.optimizeRuns = Number(value); break;
      case '--evm-version': opts.evmVersion = value; break;
      case '--via-ir': opts.viaIr = true; break;
      case '--no-color': case '--pretty-json': break;
      case '-': opts.stdin = true; break;
      default:
        if (arg.startsWith('-')) {
          process.stderr.write(`unrecognised option '${arg}'\n`);
          process.exit(1);
        }
        if (arg.includes('=') && !fs.existsSync(arg)) opts.remappings.push(arg);
        else opts.files.push(arg);
    }
  }
  return opts;
}

function loadSolc() {
  // Loading the wasm compiler takes ~0.5 s; only compiling needs it.
  return require('solc');
}

function versionString() {
  // Cached per installed soljson so that `--version` (called often by
  // py-solc-x and ape) does not load the wasm compiler each time.
  const soljson = require.resolve('solc/soljson.js');
  const stat = fs.statSync(soljson);
  const cache = path.join(path.dirname(soljson), '.cli-version');
  const key = `${stat.size}:${stat.mtimeMs}`;
  try {
    const [cachedKey, cachedVersion] = fs.readFileSync(cache, 'utf8').split('\n');
    if (cachedKey === key && cachedVersion) return cachedVersion;
  } catch (_) { /* no cache yet */ }
  const version = loadSolc().version();
  try { fs.writeFileSync(cache, `${key}\n${version}`); } catch (_) { /* read-only install */ }
  return version;
}

function isInside(child, parent) {
  const rel = path.relative(parent, child);
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
}

function realOrResolved(p) {
  try { return fs.realpathSync(p); } catch (_) { return path.resolve(p); }
}

/** Build the import callback: native solc's lookup and allowed-directory rule. */
function makeImportResolver(opts, extraAllowed) {
  const basePath = path.resolve(opts.basePath || process.cwd());
  const includePaths = opts.includePaths.map((p) => path.resolve(p));
  const allowed = [basePath, ...includePaths, ...opts.allowPaths.map((p) => path.resolve(p)),
    ...extraAllowed].map(realOrResolved);
  const roots = [basePath, ...includePaths];
  return function resolveImport(sourceUnitName) {
    const candidates = path.isAbsolute(sourceUnitName)
      ? [sourceUnitName]
      : roots.map((root) => path.join(root, sourceUnitName));
    const found = candidates.filter((p) => fs.existsSync(p) && fs.statSync(p).isFile());
    if (found.length === 0) {
      return { error: `File not found. Searched the following locations: ${roots.map((r) => `"${r}"`).join(', ')}.` };
    }
    if (found.length > 1 && new Set(found.map(realOrResolved)).size > 1) {
      return { error: `Ambiguous import. Multiple matching files found inside base path and/or include paths: ${found.map((f) => `"${f}"`).join(', ')}.` };
    }
    const real = realOrResolved(found[0]);
    if (!allowed.some((dir) => isInside(real, dir))) {
      return { error: 'File outside of allowed directories.' };
    }
    return { contents: fs.readFileSync(found[0], 'utf8') };
  };
}

function readStdin() {
  try {
    return fs.readFileSync(0, 'utf8');
  } catch (err) {
    fail(`could not read standard input: ${err.message}`);
  }
  return '';
}

function runStandardJson(opts) {
  const input = readStdin();
  try {
    JSON.parse(input);
  } catch (err) {
    // Native solc answers malformed input with a JSON error, exit code 0.
    const out = { errors: [{ component: 'general', formattedMessage: `Error parsing input JSON: ${err.message}\n`, message: `Error parsing input JSON: ${err.message}`, severity: 'error', type: 'JSONError' }] };
    process.stdout.write(JSON.stringify(out) + '\n');
    return;
  }
  const solc = loadSolc();
  const output = solc.compile(input, { import: makeImportResolver(opts, []) });
  process.stdout.write(output + '\n');
}

const COMBINED_KEYS = {
  abi: ['abi'],
  bin: ['evm.bytecode.object'],
  'bin-runtime': ['evm.deployedBytecode.object'],
  srcmap: ['evm.bytecode.sourceMap'],
  'srcmap-runtime': ['evm.deployedBytecode.sourceMap'],
  userdoc: ['userdoc'],
  devdoc: ['devdoc'],
  hashes: ['evm.methodIdentifiers'],
  metadata: ['metadata'],
  'storage-layout': ['storageLayout'],
};

function pick(obj, dotted) {
  return dotted.split('.').reduce((o, k) => (o == null ? undefined : o[k]), obj);
}

/** `solc FILE... --combined-json ...`: what crytic-compile (Slither) calls. */
function runCombinedJson(opts) {
  if (opts.files.length === 0) fail('No input files given.');
  const basePath = path.resolve(opts.basePath || process.cwd());
  const sources = {};
  for (const file of opts.files) {
    const abs = path.resolve(file);
    if (!fs.existsSync(abs)) fail(`"${file}" is not found.`);
    const name = isInside(abs, basePath) ? path.relative(basePath, abs) : abs;
    sources[name] = { content: fs.readFileSync(abs, 'utf8') };
  }
  const wanted = opts.combinedJson.filter((k) => k !== 'compact-format');
  const selection = new Set();
  for (const key of wanted) {
    if (key === 'ast') continue;
    if (!COMBINED_KEYS[key]) fail(`Invalid option to --combined-json: ${key}`);
    COMBINED_KEYS[key].forEach((k) => selection.add(k));
  }
  const settings = {
    remappings: opts.remappings,
    optimizer: { enabled: opts.optimize, runs: opts.optimizeRuns },
    outputSelection: { '*': { '*': [...selection], '': wanted.includes('ast') ? ['ast'] : [] } },
  };
  if (opts.evmVersion) settings.evmVersion = opts.evmVersion;
  if (opts.viaIr) settings.viaIR = true;
  const solc = loadSolc();
  const inputDirs = opts.files.map((f) => path.dirname(path.resolve(f)));
  const raw = solc.compile(JSON.stringify({ language: 'Solidity', sources, settings }),
    { import: makeImportResolver(opts, inputDirs) });
  const output = JSON.parse(raw);
  const errors = (output.errors || []).filter((e) => e.severity === 'error');
  (output.errors || []).forEach((e) => process.stderr.write(e.formattedMessage || e.message));
  if (errors.length) process.exit(1);
  const contracts = {};
  for (const [file, byName] of Object.entries(output.contracts || {})) {
    for (const [name, c] of Object.entries(byName)) {
      const entry = {};
      for (const key of wanted) {
        if (key === 'ast') continue;
        let value = pick(c, COMBINED_KEYS[key][0]);
        if (key === 'metadata' && typeof value !== 'string') value = JSON.stringify(value);
        entry[key] = value === undefined ? '' : value;
      }
      contracts[`${file}:${name}`] = entry;
    }
  }
  const sourceList = Object.keys(output.sources || {});
  const combined = { contracts, sourceList, version: versionString() };
  if (wanted.includes('ast')) {
    combined.sources = {};
    for (const [file, s] of Object.entries(output.sources || {})) combined.sources[file] = { AST: s.ast, id: s.id };
  }
  process.stdout.write(JSON.stringify(combined) + '\n');
}

function main() {
  const opts = parseArgs(process.argv.slice(2));
  if (opts.version) {
    process.stdout.write(`${CLI_NAME}\nVersion: ${versionString()}\n`);
    return;
  }
  if (opts.help) {
    process.stdout.write(`${CLI_NAME} (solc-js front end)\nUsage: solc --standard-json [--base-path DIR] [--include-path DIR] [--allow-paths A,B]\n       solc FILE... --combined-json abi,bin,...\n`);
    return;
  }
  if (opts.standardJson) return runStandardJson(opts);
  if (opts.combinedJson) return runCombinedJson(opts);
  fail('this solc-js front end supports --version, --standard-json and --combined-json only.');
}

main();
