export { openLocalScoringSession, type LocalScoringOptions, type LocalScoringSession, type ScoringPartySpec } from '../local/scoring.ts';
export { BankScoringSession, SCORE_REFUSALS, type BankScoringOptions, type EnterpriseScore, type ScoredEnterprise, type UnscoredEnterprise, type ScoreRefusalRule, type ScoreRequestOptions, type MonitoringScores } from './bank.ts';
export { serveScoring, type AgencyScoringOptions, type AgencyScoringReport } from './agency.ts';
export { compareRuns, loadRuns, saveRun, type MonitoringRun, type MonitoringAlert } from './monitoring.ts';
export { populationStabilityIndex } from './stability.ts';
