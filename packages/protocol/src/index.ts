export {
  MIN_LONG_ID,
  MAX_LONG_ID,
  parseLongId,
  routingKey,
  formatLongId,
  type LongIdInput,
} from './long-id.js';
export { MAX_STRING_KEY_BYTES, parseStringKey, stringRoutingKey } from './string-key.js';
export {
  ERROR_CODES,
  effectOf,
  errorBody,
  httpStatusOf,
  isErrorBody,
  isErrorCode,
  isRetryable,
  type ErrorBody,
  type ErrorEffect,
  type ErrorCode,
} from './error-codes.js';
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
