/**
 * Checks that need more than one section of a scenario: faults name existing
 * ezones, gateways and shards and happen within the run; SLOs parse and their
 * `after FAULT` names a fault of this scenario; a variant's `slo` is one of
 * the list. Paths are those of the file, so the loader can give lines.
 */

import { formatSlo, type Slo } from '../slo/ast.js';
import { SloError } from '../slo/errors.js';
import { parseSlo } from '../slo/parse.js';
import { formatDuration } from './duration.js';
import { FAULT_KINDS } from './faults-schema.js';
import type { Problem } from './issues.js';
import type { ScenarioBody } from './schema.js';

export function crossCheck(s: ScenarioBody, raw: Record<string, unknown>): Problem[] {
  return [...checkConfig(s, raw), ...checkFaults(s), ...checkSlos(s), ...checkVariants(s)];
}

function checkConfig(s: ScenarioBody, raw: Record<string, unknown>): Problem[] {
  const given = (raw['config'] as Record<string, unknown> | undefined)?.['shards'];
  if (given !== undefined && given !== s.topology.shards) {
    return [
      {
        path: ['config', 'shards'],
        message: `differs from topology.shards (${s.topology.shards}); set the number of shards in topology only`,
      },
    ];
  }
  return [];
}

function checkFaults(s: ScenarioBody): Problem[] {
  const out: Problem[] = [];
  const ezones = Object.keys(s.topology.ezones);
  const known = ezones.join(', ');
  const needEzone = (i: number, field: string, z: string | undefined) => {
    if (z !== undefined && !ezones.includes(z)) {
      out.push({ path: ['faults', i, field], message: `unknown ezone "${z}" (topology has ${known})` });
    }
  };
  const names = new Map<string, number>();
  s.faults.forEach((f, i) => {
    if (f.atMs >= s.durationMs) {
      out.push({
        path: ['faults', i, 'at'],
        message: `${formatDuration(f.atMs)} is not before the end of the run (${formatDuration(s.durationMs)})`,
      });
    }
    if (f.name !== undefined) {
      if ((FAULT_KINDS as readonly string[]).includes(f.name)) {
        out.push({ path: ['faults', i, 'name'], message: `"${f.name}" is a fault kind; pick another name` });
      } else if (names.has(f.name)) {
        out.push({
          path: ['faults', i, 'name'],
          message: `"${f.name}" is also the name of faults[${names.get(f.name)}]`,
        });
      } else names.set(f.name, i);
    }
    switch (f.kind) {
      case 'network-cut':
        needEzone(i, 'ezone', f.ezone);
        break;
      case 'mq-backlog':
        needEzone(i, 'ezone', f.ezone);
        break;
      case 'dns-failover':
        // DNS regions are the ezones' own names in the simulator: one region per ezone.
        needEzone(i, 'region', f.region);
        needEzone(i, 'to', f.to);
        break;
      case 'gateway-crash': {
        needEzone(i, 'ezone', f.ezone);
        const n = s.topology.ezones[f.ezone]?.gateways;
        if (n !== undefined && f.gateway >= n) {
          out.push({
            path: ['faults', i, 'gateway'],
            message: `ezone ${f.ezone} has gateways 0..${n - 1}, not ${f.gateway}`,
          });
        }
        break;
      }
      case 'shard-switch': {
        needEzone(i, 'to', f.to);
        const bad = f.shards.filter((x) => x >= s.topology.shards);
        if (bad.length) {
          out.push({
            path: ['faults', i, 'shards'],
            message: `shard ${bad[0]} is out of range (topology has shards 0..${s.topology.shards - 1})`,
          });
        }
        break;
      }
      default:
        break;
    }
  });
  return out;
}

/** Why `after` does not name a fault of `s`, or null when it does. */
export function faultRefProblem(
  after: string,
  faults: readonly { kind: string; name?: string | undefined }[],
): string | null {
  if (faults.some((f) => f.name === after || f.kind === after)) return null;
  if ((FAULT_KINDS as readonly string[]).includes(after)) return `no ${after} fault in this scenario`;
  return `unknown fault "${after}": not a fault name of this scenario nor a fault kind (${FAULT_KINDS.join(', ')})`;
}

function checkSlos(s: ScenarioBody): Problem[] {
  const out: Problem[] = [];
  s.slo.forEach((text, i) => {
    let slo: Slo;
    try {
      slo = parseSlo(text);
    } catch (e) {
      if (e instanceof SloError) {
        out.push({ path: ['slo', i], message: e.reason });
        return;
      }
      throw e;
    }
    if (slo.window) {
      const problem = faultRefProblem(slo.window.after, s.faults);
      if (problem) out.push({ path: ['slo', i], message: problem });
    }
  });
  return out;
}

/** Canonical text of an SLO, or the text itself when it does not parse (reported elsewhere). */
function canonical(text: string): string {
  try {
    return formatSlo(parseSlo(text));
  } catch {
    return text;
  }
}

function checkVariants(s: ScenarioBody): Problem[] {
  const out: Problem[] = [];
  const slos = new Set(s.slo.map(canonical));
  for (const [name, v] of Object.entries(s.variants)) {
    if (v.slo === null) continue;
    if (v.expect !== 'fail') {
      out.push({
        path: ['variants', name, 'slo'],
        message: 'names the SLO expected to fail, so needs expect: fail',
      });
    } else if (!slos.has(canonical(v.slo))) {
      out.push({
        path: ['variants', name, 'slo'],
        message: `"${v.slo}" is not one of this scenario's slo list`,
      });
    }
  }
  return out;
}
