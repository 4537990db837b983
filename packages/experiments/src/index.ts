export type { EmbeddedOptions, EmbeddedServer, EmbeddedState } from './embedded.js';
export { defaultDbDir, embeddedRunning, embeddedUrl, STATE_FILE, startEmbedded, stopEmbedded } from './embedded.js';
export { DbAuthError, DbConnectionError, DbQueryError, DbSchemaError, EmbeddedServerError } from './errors.js';
export type { MachineInfo } from './machine.js';
export { codeRevision, machineInfo } from './machine.js';
export { REDACTED, redactText, redactUrl, urlPassword } from './redact.js';
export type { EpochRow, OpenOptions, RunEnd, RunRecord, RunRow, RunStart, RunStatus } from './runs-db.js';
export { openRunsDb, RunsDb, SCHEMA_VERSION } from './runs-db.js';
