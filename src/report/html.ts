/**
 * The report API: self-contained HTML pages for a training job and for a monitoring run,
 * and the helpers that compute what they show. This file only exports.
 */
export {
  renderTrainingReport,
  type TrainingReportInput,
  type MetricsView,
  type ModelSliceView,
  type ManifestView,
  type PartyView,
  type ParameterValue,
} from './training.ts';
export {
  renderMonitoringReport,
  summariseRun,
  thresholdCrossings,
  type MonitoringReportInput,
  type RunScores,
  type RunSummary,
  type ThresholdCrossing,
  type PartyStability,
  type ScoredBook,
} from './monitoring.ts';
export { scorecard, pointsFor, probabilityFor, scoreBands, type Scorecard, type ScorecardOptions, type ScoreBand } from './scorecard.ts';
export { populationStabilityIndex, stabilityStatus, STABILITY_LEVELS, type StabilityStatus } from '../score/stability.ts';
export { escapeHtml } from './escape.ts';
export { writeReport } from './write.ts';
