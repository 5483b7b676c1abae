export { binFeature, binIndex, DEFAULT_BINNING_RULE, MIN_BIN_ENTERPRISES, type BinningMethod, type BinningRule, type FeatureBins } from './bins.ts';
export { BINNING_DEFAULTS, resolveBinningConfig, type BinningConfig } from './config.ts';
export { binTables, runBinningInProcess, type BinnedFeature, type BinnedParty, type BinningResult, type InProcessBinningOptions } from './in-process.ts';
export { binningJson, ivCsv, screeningJson, writeBinningOutputs } from './output.ts';
export { featureEvidence, WOE_SMOOTHING, type BinStatistics, type FeatureEvidence } from './woe.ts';
export { binIndicatorTable, indicatorNames, scorecardCsv, scorecardFiles, scorecardRows, scorecardScaleJson, type BinningFile, type ScorecardRow, type ScorecardScaleJson } from './scorecard.ts';
export { loadBinningFile, loadScorecardScale, trainOnBins } from './scorecard-training.ts';
