/** Live figures on stderr while a load run goes: one line a second (rewritten in place on a terminal). */
export interface Progress {
  line(text: string): void;
  done(): void;
}

export function progress(enabled: boolean, stream: NodeJS.WriteStream = process.stderr): Progress {
  const tty = Boolean(stream.isTTY);
  let last = '';
  return {
    line(text: string) {
      if (!enabled) return;
      if (tty) stream.write(`\r\x1b[2K${text}`);
      else stream.write(`${text}\n`);
      last = text;
    },
    done() {
      if (enabled && tty && last) stream.write('\n');
      last = '';
    },
  };
}

export const fmtInt = (n: number) => Math.round(n).toLocaleString('en-US');
export const fmtMs = (n: number | null | undefined) =>
  n === null || n === undefined
    ? '–'
    : n < 10
      ? `${n.toFixed(2)} ms`
      : n < 1000
        ? `${n.toFixed(1)} ms`
        : `${(n / 1000).toFixed(2)} s`;
export const fmtBytes = (n: number) =>
  n >= 1 << 30
    ? `${(n / (1 << 30)).toFixed(2)} GiB`
    : n >= 1 << 20
      ? `${(n / (1 << 20)).toFixed(1)} MiB`
      : `${(n / 1024).toFixed(1)} KiB`;

/** A two-column table (figure, value) for the summary. */
export function table(title: string, rows: [string, string][]): string {
  const w = Math.max(...rows.map((r) => r[0].length));
  return [title, ...rows.map(([k, v]) => `  ${k.padEnd(w)}  ${v}`)].join('\n');
}
