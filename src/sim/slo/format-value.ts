/** Numbers for people: durations in the largest fitting unit, ratios in %, others with 4 significant digits. */

function sig(v: number, digits = 4): string {
  if (v === 0 || !Number.isFinite(v)) return String(v);
  const abs = Math.abs(v);
  if (abs >= 10 ** digits && Number.isInteger(v)) return String(v);
  return String(Number(v.toPrecision(digits)));
}

export function formatMs(ms: number): string {
  const abs = Math.abs(ms);
  if (abs >= 3_600_000) return `${sig(ms / 3_600_000, 3)}h`;
  if (abs >= 60_000) return `${sig(ms / 60_000, 3)}m`;
  if (abs >= 1_000) return `${sig(ms / 1_000, 3)}s`;
  return `${sig(ms, 3)}ms`;
}

/** `unit` as in the metric registry: `ms`, `ratio`, `/s`, `bytes`, or a word. */
export function formatValue(v: number | null, unit: string | null): string {
  if (v === null) return 'no data';
  switch (unit) {
    case 'ms':
      return formatMs(v);
    case 'ratio':
      return `${sig(v * 100, 3)}%`;
    case 'bytes': {
      const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
      let x = v;
      let i = 0;
      while (Math.abs(x) >= 1024 && i < units.length - 1) {
        x /= 1024;
        i++;
      }
      return `${sig(x, 3)} ${units[i]}`;
    }
    case '/s':
      return `${sig(v)}/s`;
    case null:
    case '':
      return sig(v);
    default:
      return `${sig(v)} ${unit}`;
  }
}
