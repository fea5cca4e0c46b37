export {
  MIN_LONG_ID,
  MAX_LONG_ID,
  parseLongId,
  longIdText,
  routingKey,
  formatLongId,
  type LongIdInput,
} from './long-id.js';
export { MAX_STRING_KEY_BYTES, parseStringKey, stringRoutingKey } from './string-key.js';
export {
  ERROR_CODES,
  errorBody,
  httpStatusOf,
  isErrorBody,
  isErrorCode,
  type ErrorBody,
  type ErrorEffect,
  type ErrorCode,
} from './error-codes.js';
export { LOCAL_ERROR_CODES, type LocalErrorCode } from './local-error-codes.js';
export {
  KEYLANE_ERROR_CODES,
  effectOf,
  isKeylaneErrorCode,
  isRetryable,
  type ErrorCodeInfo,
  type KeylaneErrorCode,
} from './error-registry.js';
export {
  KeylaneError,
  InvalidKeyError,
  InvalidOptionsError,
  VersionConflictError,
  OverloadedError,
  UnavailableError,
  OutcomeUnknownError,
  DeadlineExceededError,
  isWireError,
  describe as describeValue,
} from './errors.js';
export {
  DEADLINE_HEADER,
  REQUEST_ID_HEADER,
  MAX_REQUEST_ID_LENGTH,
  REQUEST_ID_PATTERN,
  ITEMS_PATH,
  HEALTH_LIVE_PATH,
  HEALTH_READY_PATH,
  METRICS_PATH,
  itemPath,
  type Item,
  type PutItemBody,
  type ReadinessBody,
} from './item.js';
