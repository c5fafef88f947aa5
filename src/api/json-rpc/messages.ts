import { bytesToHex } from '@noble/hashes/utils.js';
import { invalidField } from '../../domain/errors.js';
import type { RequestContext } from '../../domain/request-context.js';
import { messageSignature, personalMessageScheme, typedDataScheme } from '../../schemes/ethereum/schemes.js';
import { encodeResult } from '../../service/result-codec.js';
import { parseAddress } from '../../service/transaction-request.js';
import { PendingApproval } from './errors.js';
import { positional, required } from './params.js';
import type { JsonRpcServices, MethodTable } from './server.js';

const PERSONAL = 'SignPersonalMessage';
const TYPED = 'SignTypedData';

/**
 * EIP-191 personal messages (eth_sign, personal_sign, Clef's account_signData with text/plain) and
 * EIP-712 typed data (eth_signTypedData_v4, its alias eth_signTypedData, Clef's account_signTypedData).
 * Signatures are 65 bytes r || s || v with v = 27 or 28, as 0x hex.
 */
export function messageMethods({ accounts, signing, policy }: JsonRpcServices): MethodTable {
  const keyFor = async (ctx: RequestContext, rpc: string, address: unknown, field: string) => {
    ctx.keyName = await accounts.resolve(ctx.caller, rpc, parseAddress(address, field), field);
    policy.access.check(ctx.caller, rpc, ctx.keyName);
    return ctx.keyName;
  };
  const personal = async (ctx: RequestContext, address: unknown, addressField: string, data: unknown, dataField: string) => {
    const keyName = await keyFor(ctx, PERSONAL, address, addressField);
    const result = await signing.sign(ctx, personalMessageScheme, keyName, { message: messageBytes(data, dataField) });
    return `0x${bytesToHex(messageSignature(result))}`;
  };
  const typed = async (ctx: RequestContext, address: unknown, addressField: string, data: unknown, dataField: string) => {
    const keyName = await keyFor(ctx, TYPED, address, addressField);
    const request = { typedDataJson: typedDataJson(data, dataField) };
    const outcome = await signing.signOrPark(ctx, typedDataScheme, keyName, request, encodeResult({ request }));
    if ('pending' in outcome) throw new PendingApproval(outcome.pending);
    return `0x${bytesToHex(messageSignature(outcome.result))}`;
  };
  const typedV4 = {
    rpc: TYPED,
    signs: true,
    handle: (ctx: RequestContext, params: unknown) => {
      const p = positional(params, 2);
      return typed(ctx, required(p, 0), 'params[0]', required(p, 1), 'params[1]');
    },
  };
  return {
    eth_sign: {
      rpc: PERSONAL,
      signs: true,
      handle: (ctx, params) => {
        const p = positional(params, 2);
        return personal(ctx, required(p, 0), 'params[0]', required(p, 1), 'params[1]');
      },
    },
    personal_sign: {
      rpc: PERSONAL,
      signs: true,
      // [data, address, password]: the password of a node's own account is meaningless here and ignored.
      handle: (ctx, params) => {
        const p = positional(params, 3);
        return personal(ctx, required(p, 1), 'params[1]', required(p, 0), 'params[0]');
      },
    },
    eth_signTypedData_v4: typedV4,
    eth_signTypedData: typedV4,
    account_signData: {
      rpc: PERSONAL,
      signs: true,
      handle: (ctx, params) => {
        const p = positional(params, 3);
        if (required(p, 0) !== 'text/plain') throw invalidField('params[0]', 'must be "text/plain" (other content types of account_signData are not supported)');
        return personal(ctx, required(p, 1), 'params[1]', required(p, 2), 'params[2]');
      },
    },
    account_signTypedData: typedV4,
  };
}

/** 0x hex is bytes (what ethers, viem and cast send); any other string is taken as UTF-8 text, as wallets do. */
function messageBytes(value: unknown, field: string): Uint8Array {
  if (typeof value !== 'string') throw invalidField(field, 'must be a string: 0x hex bytes or text');
  if (/^0x([0-9a-fA-F]{2})*$/.test(value)) return Buffer.from(value.slice(2), 'hex');
  return new TextEncoder().encode(value);
}

/** Typed data comes as a JSON string (ethers, viem) or as an object (Clef, some wallets). */
function typedDataJson(value: unknown, field: string): string {
  if (typeof value === 'string') return value;
  if (value && typeof value === 'object' && !Array.isArray(value)) return JSON.stringify(value);
  throw invalidField(field, 'must be EIP-712 typed data: an object or its JSON text');
}
