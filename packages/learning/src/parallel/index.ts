export { paramsChecksum } from './checksum.js';
export type { DataParallelOptions } from './data-parallel.js';
export { DataParallelTrainer } from './data-parallel.js';
