/**
 * Embedded shard map stores (the ShardMapStore port, src/core/ports.ts):
 *
 * - `MemoryShardMapStore`: in-process (one `taco serve`, tests, the simulator).
 *   Watchers are told synchronously inside `commit`.
 * - `FileShardMapStore`: a JSON file holding every version, shared by the
 *   processes of one host (several `taco serve` on one machine). A commit takes
 *   an exclusive lock file, re-reads, compares the version, writes a temporary
 *   file and renames it over the old one (readers never see half a file).
 *   Other processes learn a commit by polling the file's mtime every
 *   `pollMs` (their followers also reconcile on their own).
 */
import { unwatchFile, watchFile } from 'node:fs';
import { mkdir, open, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { TacoError } from '../../core/errors.js';
import type { ShardMapStore } from '../../core/ports.js';
import { type ShardMapState, shardMapConflict, validateShardMap } from '../../core/shard-map.js';

type Listener = (m: ShardMapState) => void;

const copy = (m: ShardMapState): ShardMapState => structuredClone(m);

export class MemoryShardMapStore implements ShardMapStore {
  private readonly versions: ShardMapState[] = [];
  private readonly listeners = new Set<Listener>();

  async current(): Promise<ShardMapState | undefined> {
    const m = this.versions.at(-1);
    return m && copy(m);
  }

  /** Synchronous read (the simulator). */
  get latest(): ShardMapState | undefined {
    return this.versions.at(-1);
  }

  async commit(next: ShardMapState): Promise<void> {
    this.commitSync(next);
  }

  commitSync(next: ShardMapState): void {
    validateShardMap(next);
    const have = this.versions.at(-1)?.version ?? 0;
    if (next.version !== have + 1) throw shardMapConflict(have, next.version - 1);
    const m = copy(next);
    this.versions.push(m);
    for (const l of [...this.listeners]) l(m);
  }

  async get(version: number): Promise<ShardMapState | undefined> {
    const m = this.versions.find((v) => v.version === version);
    return m && copy(m);
  }

  async history(limit: number): Promise<ShardMapState[]> {
    return this.versions.slice(-Math.max(0, limit)).reverse().map(copy);
  }

  watch(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}

interface FileBody {
  format: 'taco.shard-map.v1';
  versions: ShardMapState[];
}

export interface FileShardMapStoreOptions {
  /** How often watchers poll the file for other processes' commits. Default 250 ms. */
  pollMs?: number;
  /** How long a commit waits for the lock. Default 5 s. */
  lockTimeoutMs?: number;
  /** A lock file older than this is taken as left by a crashed process. Default 30 s. */
  staleLockMs?: number;
}

export class FileShardMapStore implements ShardMapStore {
  private readonly listeners = new Set<Listener>();
  private lastSeen = 0;
  private polling = false;
  private readonly onStat = () => void this.poll();
  private readonly o: Required<FileShardMapStoreOptions>;

  constructor(
    readonly path: string,
    opts: FileShardMapStoreOptions = {},
  ) {
    this.o = {
      pollMs: opts.pollMs ?? 250,
      lockTimeoutMs: opts.lockTimeoutMs ?? 5_000,
      staleLockMs: opts.staleLockMs ?? 30_000,
    };
  }

  private async read(): Promise<ShardMapState[]> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw new TacoError('ENGINE_UNAVAILABLE', `shard map file ${this.path}: ${(e as Error).message}`);
    }
    let body: FileBody;
    try {
      body = JSON.parse(text) as FileBody;
    } catch {
      throw new TacoError('INTERNAL', `shard map file ${this.path} is not valid JSON`);
    }
    if (body?.format !== 'taco.shard-map.v1' || !Array.isArray(body.versions))
      throw new TacoError(
        'INTERNAL',
        `shard map file ${this.path}: not a taco shard map (format taco.shard-map.v1)`,
      );
    return body.versions;
  }

  async current(): Promise<ShardMapState | undefined> {
    return (await this.read()).at(-1);
  }

  async get(version: number): Promise<ShardMapState | undefined> {
    return (await this.read()).find((v) => v.version === version);
  }

  async history(limit: number): Promise<ShardMapState[]> {
    return (await this.read()).slice(-Math.max(0, limit)).reverse();
  }

  async commit(next: ShardMapState): Promise<void> {
    validateShardMap(next);
    await mkdir(dirname(this.path), { recursive: true });
    const release = await this.lock();
    try {
      const versions = await this.read();
      const have = versions.at(-1)?.version ?? 0;
      if (next.version !== have + 1) throw shardMapConflict(have, next.version - 1);
      versions.push(next);
      const tmp = `${this.path}.${process.pid}.tmp`;
      const body: FileBody = { format: 'taco.shard-map.v1', versions };
      await writeFile(tmp, `${JSON.stringify(body, null, 1)}\n`);
      await rename(tmp, this.path);
    } finally {
      await release();
    }
    this.notify(next);
  }

  private async lock(): Promise<() => Promise<void>> {
    const lockPath = `${this.path}.lock`;
    const until = Date.now() + this.o.lockTimeoutMs;
    for (;;) {
      try {
        const fh = await open(lockPath, 'wx');
        await fh.writeFile(String(process.pid));
        await fh.close();
        return () => rm(lockPath, { force: true });
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
        const age = await stat(lockPath).then(
          (s) => Date.now() - s.mtimeMs,
          () => 0,
        );
        if (age > this.o.staleLockMs) await rm(lockPath, { force: true });
        else if (Date.now() > until)
          throw new TacoError(
            'DEADLINE_EXCEEDED',
            `shard map file ${this.path}: locked by another process for ${this.o.lockTimeoutMs} ms`,
          );
        else await new Promise((r) => setTimeout(r, 20));
      }
    }
  }

  private notify(m: ShardMapState): void {
    if (m.version <= this.lastSeen) return;
    this.lastSeen = m.version;
    for (const l of [...this.listeners]) l(m);
  }

  watch(listener: Listener): () => void {
    this.listeners.add(listener);
    if (this.listeners.size === 1) {
      watchFile(this.path, { interval: this.o.pollMs, persistent: false }, this.onStat);
    }
    return () => {
      this.listeners.delete(listener);
      if (this.listeners.size === 0) unwatchFile(this.path, this.onStat);
    };
  }

  private async poll(): Promise<void> {
    if (this.polling) return;
    this.polling = true;
    try {
      const m = await this.current();
      if (m) this.notify(m);
    } catch {
      // The follower's reconcile reports read failures.
    } finally {
      this.polling = false;
    }
  }
}
