export {
  OPERATION_KINDS,
  OPERATION_OUTCOMES,
  type Operation,
  type OperationKind,
  type OperationOutcome,
} from './operation.js';
export { InvalidHistoryError, HistoryFormatError, RecorderMisuseError } from './errors.js';
export {
  HistoryRecorder,
  type HistoryRecorderOptions,
  type PendingRead,
  type PendingWrite,
} from './recorder.js';
export {
  toJsonl,
  parseJsonl,
  formatOperationLine,
  parseOperationLine,
  readJsonlFile,
  writeJsonlFile,
} from './jsonl.js';
export {
  checkHistory,
  VIOLATION_KINDS,
  type CheckResult,
  type Violation,
  type ViolationKind,
} from './linearizability.js';
export {
  checkConvergence,
  type ConvergenceEntry,
  type ConvergenceResult,
  type Divergence,
} from './convergence.js';
export {
  countByKind,
  countKindsFound,
  formatViolation,
  formatCheckResult,
  formatConvergenceResult,
  type FormatOptions,
} from './format.js';
export { describeOperation } from './describe.js';
