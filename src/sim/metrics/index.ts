/** Metrics of simulated runs on virtual time (HDR histograms, time buckets, a registry of names). */
export { CORE_METRICS, defaultRegistry, SIM_METRICS } from './catalogue.js';
export { HDR_DIGITS, HDR_HIGHEST_US, HDR_LOWEST_US, msToUs, newHistogram } from './hdr.js';
export {
  type HistogramView,
  MetricsRecorder,
  type RecordedEvent,
  type RecorderOptions,
  type SeriesData,
  type SeriesStat,
} from './recorder.js';
export { type MetricDef, type MetricKind, MetricRegistry } from './registry.js';
export type { GaugeStats, HistogramStats } from './series.js';
export { formatTags, MAX_TAG_KEYS, type Tags } from './tags.js';
export { type BucketWindow, bucketWindow } from './window.js';
