/**
 * A parsed YAML document that still knows where each node came from, so an
 * error about a field path can name the line it is on.
 */
import { isMap, isScalar, isSeq, LineCounter, type Node, parseDocument } from 'yaml';
import type { ScenarioIssue } from './errors.js';

export class YamlSource {
  readonly file: string;
  readonly text: string;
  private readonly lines = new LineCounter();
  readonly doc;

  constructor(text: string, file: string) {
    this.file = file;
    this.text = text;
    // uniqueKeys: a repeated key would silently override the first one.
    this.doc = parseDocument(text, { lineCounter: this.lines, prettyErrors: false, uniqueKeys: true });
  }

  /** YAML syntax errors (and warnings such as duplicate keys), as issues. */
  syntaxIssues(): ScenarioIssue[] {
    return this.doc.errors.map((e) => ({
      file: this.file,
      line: this.lineAt(e.pos[0]),
      field: '',
      message: e.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, ''),
    }));
  }

  /** The document as plain data. */
  toJS(): unknown {
    return this.doc.toJS({ maxAliasCount: 100 });
  }

  lineAt(offset: number): number {
    return this.lines.linePos(offset).line;
  }

  /**
   * Line of the node at `path`, or of its nearest ancestor that exists (a
   * missing field is reported where its parent is). `keyOf` points at the key
   * `path[-1]` inside the map at `path[:-1]` instead of at its value, which is
   * where an unknown key should be reported.
   */
  lineOf(path: readonly PropertyKey[], keyOf?: string): number {
    for (let n = path.length; n >= 0; n--) {
      const node = this.nodeAt(path.slice(0, n));
      if (!node) continue;
      if (n === path.length && keyOf !== undefined && isMap(node)) {
        const pair = node.items.find((p) => isScalar(p.key) && String(p.key.value) === keyOf);
        const key = pair?.key as Node | undefined;
        if (key?.range) return this.lineAt(key.range[0]);
      }
      if (node.range) return this.lineAt(node.range[0]);
    }
    return 1;
  }

  /** Line of the key `path[-1]` (where a field starts), else of its value. */
  keyLineOf(path: readonly PropertyKey[]): number {
    if (path.length === 0) return 1;
    const last = path[path.length - 1]!;
    const parent = this.nodeAt(path.slice(0, -1));
    if (parent && isMap(parent)) {
      const pair = parent.items.find((p) => isScalar(p.key) && String(p.key.value) === String(last));
      const key = pair?.key as Node | undefined;
      if (key?.range) return this.lineAt(key.range[0]);
    }
    return this.lineOf(path);
  }

  private nodeAt(path: readonly PropertyKey[]): Node | null {
    if (path.length === 0) return (this.doc.contents as Node | null) ?? null;
    const parentOk = this.nodeAt(path.slice(0, -1));
    if (!parentOk || !(isMap(parentOk) || isSeq(parentOk))) return null;
    const node = this.doc.getIn(
      path.map((p) => (typeof p === 'symbol' ? String(p) : p)),
      true,
    );
    return node && typeof node === 'object' && 'range' in node ? (node as Node) : null;
  }
}
