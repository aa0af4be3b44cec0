/** Outputs of `taco sim`: terminal table, JSON, JUnit, HTML, NDJSON event log. */
export {
  buildRunResult,
  type ChartSpec,
  collectSeries,
  DEFAULT_CHARTS,
  type LineSpec,
  type RunResultInput,
  summarize,
} from './collect.js';
export { EVENTS_VERSION, logEvents, NdjsonWriter, type RunHeader, writeRunHeader } from './events.js';
export { gitCommit } from './git.js';
export { renderHtml, writeHtmlReport } from './html.js';
export { JSON_REPORT_VERSION, renderJson, writeJsonReport } from './json.js';
export { renderJunit, writeJunitReport } from './junit.js';
export { niceScale, renderChart } from './svg-chart.js';
export { renderTable, type TableOptions } from './table.js';
export type { FaultRecord, SeriesChart, SeriesLine, SimReport, SimRunResult } from './types.js';
export { allAsExpected, judgeRun, judgeSlo, sameSlo, type Verdict } from './verdict.js';
