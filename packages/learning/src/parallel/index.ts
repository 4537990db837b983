export { DataParallelTrainer } from './data-parallel.js';
export type { DataParallelOptions } from './data-parallel.js';
export { paramsChecksum } from './checksum.js';
