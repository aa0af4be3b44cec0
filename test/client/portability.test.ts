/**
 * The SDK runs in browsers: nothing it imports, transitively, may be a node:
 * module, a package, or use Node-only globals.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

test('src/client and everything it imports is browser-safe', () => {
  const seen = new Set<string>();
  const todo = [resolve(root, 'src/client/index.ts')];
  while (todo.length > 0) {
    const file = todo.pop()!;
    if (seen.has(file)) continue;
    seen.add(file);
    const src = readFileSync(file, 'utf8');
    const rel = file.slice(root.length + 1);
    for (const m of src.matchAll(/^\s*(?:import|export)\b[^'"]*?from\s+'([^']+)'/gm)) {
      const spec = m[1]!;
      assert.ok(spec.startsWith('.'), `${rel} imports ${spec}: only relative imports are browser-safe`);
      todo.push(resolve(dirname(file), spec.replace(/\.js$/, '.ts')));
    }
    const code = src.replace(/\/\*[\s\S]*?\*\/|\/\/.*$/gm, '');
    for (const g of ['Buffer', 'process.', 'require(', '__dirname', 'setImmediate']) {
      assert.ok(!code.includes(g), `${rel} uses ${g}`);
    }
  }
  assert.ok(seen.size >= 6, `walked ${[...seen].join(', ')}`);
});
