export { runPsiParty, type PsiPartyConfig, type PsiPartyResult, type OwnIdBatch, type Reveal, type PsiSide } from './ecdh.ts';
export { runLocalPsi, type LocalPsiOptions, type LocalPsiResult } from '../local/psi.ts';
export { openIdSource, type IdSource, type IdSourceOptions, type IdSourceReport } from './source.ts';
export { writeIntersectionIds } from './output.ts';
export { poolExecutor, inlineExecutor, type PsiExecutor, type PoolOptions } from './executor.ts';
export { loadBackend, BACKEND_NAMES, DEFAULT_BACKEND } from './backends/index.ts';
export type { GroupBackend, BackendName, PointBytes, ScalarBytes } from './group.ts';
