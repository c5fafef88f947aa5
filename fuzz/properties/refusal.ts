import { SignerError } from '../../src/domain/errors.js';

/**
 * Runs a decoder on fuzzed input. Returns its result, or undefined when it refused the input the way
 * callers must see bad input: INVALID_FIELD (gRPC INVALID_ARGUMENT) naming the field at fault.
 * Anything else is rethrown: the API would turn it into INTERNAL.
 */
export function decodedOrRefused<T>(decode: () => T): T | undefined {
  try {
    return decode();
  } catch (error) {
    assertClearRefusal(error);
    return undefined;
  }
}

/** Throws unless `error` is INVALID_FIELD with a field and a message that starts by naming it. */
export function assertClearRefusal(error: unknown): asserts error is SignerError {
  if (!(error instanceof SignerError) || error.code !== 'INVALID_FIELD') throw error;
  if (!error.field) throw new Error(`INVALID_FIELD without a field: ${error.message}`, { cause: error });
  if (!error.message.startsWith(`"${error.field}" `)) {
    throw new Error(`INVALID_FIELD message does not name its field ${error.field}: ${error.message}`, { cause: error });
  }
}

/** Fails a property with a message (fast-check reports it with the counterexample). */
export function check(condition: boolean, message: string): asserts condition {
  if (!condition) throw new Error(message);
}
