/**
 * One error base class with stable string codes. The API maps each code to a gRPC status in one
 * table (src/api/grpc/status.ts); tests assert the code, not only the message.
 *
 * Messages are shown to callers: they name the bad field but never hold key material or PINs.
 */
export const ERROR_CODES = [
  /** A request field is malformed or out of range; `field` names it. */
  'INVALID_FIELD',
  /** No key with that name. */
  'KEY_NOT_FOUND',
  /** No sign request (parked or finished) with that id. */
  'REQUEST_NOT_FOUND',
  /** A key with that name already exists. */
  'KEY_EXISTS',
  /** The key's type cannot be used with the requested scheme or algorithm. */
  'WRONG_KEY_TYPE',
  /** No valid client certificate: none, another CA's, or expired. */
  'UNAUTHENTICATED',
  /** The caller's identity is not granted this RPC on this key (access file). */
  'ACCESS_DENIED',
  /** The key is disabled (frozen): nothing is signed with it until it is enabled again. */
  'KEY_DISABLED',
  /** A request id was reused with a different payload. */
  'REQUEST_ID_REUSED',
  /** A request with this id is still being processed: retry later. */
  'REQUEST_IN_PROGRESS',
  /** An operator settled the request (`signer requests settle`) while it was being signed: nothing is released. */
  'REQUEST_SETTLED',
  /** A different transaction was already signed for this key, chain and nonce. */
  'NONCE_REUSED',
  /** An approval was refused: unknown approver, bad signature, the requester's own, expired, counted already. */
  'APPROVAL_REFUSED',
  /** The parked request's approvals no longer count (policy changed), or it is not pending any more. */
  'APPROVAL_INVALID',
  /** The database cannot be written (read-only, full, locked): fail closed, nothing is signed. */
  'STORE_UNAVAILABLE',
  /** The key's policy refuses the request (or no policy governs the key); `reason` says which rule. */
  'POLICY_DENIED',
  /** A spend window or rate limit is exhausted; `reason` is SPEND_WINDOW or RATE_LIMIT. */
  'LIMIT_EXCEEDED',
  /** The policy requires approvals for a request that cannot be parked (messages, bytes, JWTs). */
  'APPROVAL_REQUIRED',
  /** The policy files on disk are invalid (a reload was refused; the previous set stays). */
  'POLICY_INVALID',
  /** The HSM cannot be reached, the token is missing, or a session failed. */
  'HSM_UNAVAILABLE',
  /** The HSM returned a signature that does not verify: never released. */
  'HSM_BAD_SIGNATURE',
  /** The PIN was refused. Never retried: retries could lock the token. */
  'HSM_PIN_INCORRECT',
  /** The service is shutting down. */
  'SHUTTING_DOWN',
  /** The downstream Ethereum node (--downstream-rpc-url) is not configured or cannot be reached. */
  'NODE_UNAVAILABLE',
  /** A stream reached the server's bound on its lifetime (DEADLINE_EXCEEDED): call again to continue. */
  'STREAM_DEADLINE',
  /** Anything unexpected. The caller sees a generic message; details go to the server log. */
  'INTERNAL',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

export class SignerError extends Error {
  override readonly name = 'SignerError';
  constructor(
    readonly code: ErrorCode,
    message: string,
    /** The request field at fault, for INVALID_FIELD (e.g. `unsigned_transaction.chainId`). */
    readonly field?: string,
    options?: { cause?: unknown; reason?: string; rule?: string; policyFile?: string },
  ) {
    super(message, options);
    this.reason = options?.reason;
    this.rule = options?.rule;
    this.policyFile = options?.policyFile;
  }

  /** For policy decisions: the stable reason code (e.g. VALUE_CAP, SPEND_WINDOW). */
  readonly reason?: string | undefined;
  /** For policy denials: the rule that refused and the policy file it is in. */
  readonly rule?: string | undefined;
  readonly policyFile?: string | undefined;
}

/** A bad request field: `"<field>" <problem>`, the way noble names its checks. */
export function invalidField(field: string, problem: string): SignerError {
  return new SignerError('INVALID_FIELD', `"${field}" ${problem}`, field);
}
