/**
 * jinqiao (金桥): privacy-preserving joint credit modeling between banks and public data
 * agencies. The root exports the essentials; each area has its own subpath
 * (`jinqiao/psi`, `jinqiao/ids`, ...).
 */
export { JinqiaoError, isJinqiaoError, errors, type ErrorCode, type SourceLocation } from './errors.ts';
export { runLocalPsi, type LocalPsiOptions, type LocalPsiResult } from './psi/index.ts';
export { normaliseId, isValidUscc, detectIdType, type IdType } from './ids/index.ts';
export type { Channel } from './protocol/channel.ts';
export { memoryChannelPair, type FrameTap } from './transport/memory.ts';
export { runLocalTraining, trainOnTables, type LocalTrainingOptions, type LocalTrainingResult } from './lr/index.ts';
