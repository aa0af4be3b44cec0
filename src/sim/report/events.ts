/**
 * `--events FILE`: the event log as NDJSON, one JSON object per line,
 * written as the run goes (a buffer of 64 KiB, flushed with synchronous
 * writes so the single-threaded simulation needs no awaits and the order is
 * exactly the order of writes). Each run starts with a header line naming
 * the scenario, variant, seed and commit; events follow as
 * `{"type":"event","tMs":…,"name":…,"fields":{…}}`.
 */
import { closeSync, openSync, writeSync } from 'node:fs';
import type { MetricsRecorder } from '../metrics/recorder.js';

export const EVENTS_VERSION = 1;

export class NdjsonWriter {
  private fd: number | null;
  private chunks: string[] = [];
  private size = 0;
  private written = 0;

  constructor(
    readonly file: string,
    private readonly bufferBytes = 64 * 1024,
  ) {
    this.fd = openSync(file, 'w');
  }

  /** Appends one object as a line. */
  write(obj: unknown): void {
    if (this.fd === null) throw new Error(`${this.file}: event log already closed`);
    const line = `${JSON.stringify(obj)}\n`;
    this.chunks.push(line);
    this.size += line.length;
    this.written++;
    if (this.size >= this.bufferBytes) this.flush();
  }

  /** Lines written so far. */
  get lines(): number {
    return this.written;
  }

  flush(): void {
    if (this.fd === null || this.chunks.length === 0) return;
    writeSync(this.fd, this.chunks.join(''));
    this.chunks = [];
    this.size = 0;
  }

  close(): void {
    if (this.fd === null) return;
    this.flush();
    closeSync(this.fd);
    this.fd = null;
  }
}

export interface RunHeader {
  scenario: string;
  variant: string | null;
  seed: number;
  commit: string;
  scale: number;
}

/** Writes the header line of a run. */
export function writeRunHeader(w: NdjsonWriter, h: RunHeader): void {
  w.write({
    type: 'run',
    version: EVENTS_VERSION,
    scenario: h.scenario,
    variant: h.variant,
    seed: h.seed,
    commit: h.commit,
    scale: h.scale,
  });
}

/** Streams every event of `recorder` to `w`. */
export function logEvents(recorder: MetricsRecorder, w: NdjsonWriter): void {
  recorder.onEvent((e) => w.write({ type: 'event', tMs: e.tMs, name: e.name, fields: e.fields ?? {} }));
}
