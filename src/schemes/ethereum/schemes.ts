import { KEY_TYPES, KEY_TYPE_INFO } from '../../domain/key-types.js';
import { invalidField } from '../../domain/errors.js';
import type { Scheme } from '../scheme.js';
import { personalMessageDigest } from './eip191.js';
import { decodeTypedData, type DecodedTypedData } from './eip712.js';
import { finishSecp256k1 } from './secp256k1-finish.js';
import { scalarBytes } from '../ecdsa.js';
import {
  decodeUnsignedTransaction,
  serializeSigned,
  type DecodedTransaction,
  type EcdsaRecoverable,
  type SignedTransaction,
} from './transaction.js';

/** r || s || (27 + yParity): the 65-byte form a message signature is released in. */
export function messageSignature(signature: EcdsaRecoverable): Uint8Array {
  return new Uint8Array([...scalarBytes(signature.r), ...scalarBytes(signature.s), 27 + signature.yParity]);
}

/** r || s || yParity. */
function rsv(signature: EcdsaRecoverable): Uint8Array {
  return new Uint8Array([...scalarBytes(signature.r), ...scalarBytes(signature.s), signature.yParity]);
}

const ETHEREUM_KEY_TYPES = KEY_TYPES.filter((type) => KEY_TYPE_INFO[type].ethereum);

export interface EthereumSignature extends EcdsaRecoverable {
  /** What was signed: the EIP-191 or EIP-712 digest. */
  digest: Uint8Array;
}

export const ethereumTransactionScheme: Scheme<
  { unsignedTransaction: Uint8Array },
  DecodedTransaction,
  EcdsaRecoverable & SignedTransaction
> = {
  name: 'ethereum_transaction',
  keyTypes: ETHEREUM_KEY_TYPES,
  prepare({ unsignedTransaction }) {
    const decoded = decodeUnsignedTransaction(unsignedTransaction);
    const intent = { scheme: 'ethereum_transaction' as const, transaction: decoded.transaction };
    return { decoded, intent, mechanism: 'ecdsa-digest', input: decoded.digest };
  },
  finish(prepared, raw, key) {
    const signature = finishSecp256k1(prepared.input, raw, key.publicJwk);
    return { ...signature, ...serializeSigned(prepared.decoded, signature) };
  },
  signatureOf: rsv,
};

export const personalMessageScheme: Scheme<{ message: Uint8Array }, null, EthereumSignature> = {
  name: 'eip191',
  keyTypes: ETHEREUM_KEY_TYPES,
  prepare({ message }) {
    if (message.length === 0) throw invalidField('message', 'is required');
    return { decoded: null, intent: { scheme: 'eip191', message }, mechanism: 'ecdsa-digest', input: personalMessageDigest(message) };
  },
  finish(prepared, raw, key) {
    return { ...finishSecp256k1(prepared.input, raw, key.publicJwk), digest: prepared.input };
  },
  signatureOf: messageSignature,
};

export const typedDataScheme: Scheme<{ typedDataJson: string }, DecodedTypedData, EthereumSignature> = {
  name: 'eip712',
  keyTypes: ETHEREUM_KEY_TYPES,
  prepare({ typedDataJson }) {
    if (typedDataJson.length === 0) throw invalidField('typed_data', 'is required');
    const decoded = decodeTypedData(typedDataJson);
    const intent = { scheme: 'eip712' as const, typedData: decoded.typedData };
    return { decoded, intent, mechanism: 'ecdsa-digest', input: decoded.digest };
  },
  finish(prepared, raw, key) {
    return { ...finishSecp256k1(prepared.input, raw, key.publicJwk), digest: prepared.input };
  },
  signatureOf: messageSignature,
};
