import { invalidField } from '../domain/errors.js';
import type { TypedData, TypedDataField } from '../domain/intent.js';

/**
 * The primary types the policy reads as token grants, and the exact EIP-712 type each must have. A
 * message that carries one of these names with any other type (a look-alike: `int256 value`, an extra
 * or missing member, another referenced struct) is refused: it is neither decoded as a permit nor let
 * through as an unknown type.
 */

export type PermitStandard = 'EIP-2612' | 'Permit2' | 'EIP-3009';

const PERMIT_DETAILS = 'PermitDetails(address token,uint160 amount,uint48 expiration,uint48 nonce)';
const TOKEN_PERMISSIONS = 'TokenPermissions(address token,uint256 amount)';
const AUTHORIZATION = '(address from,address to,uint256 value,uint256 validAfter,uint256 validBefore,bytes32 nonce)';

/** Primary type -> its standard and its canonical encoded type (EIP-712 `encodeType`). */
const CANONICAL: Record<string, { standard: PermitStandard; type: string }> = {
  Permit: { standard: 'EIP-2612', type: 'Permit(address owner,address spender,uint256 value,uint256 nonce,uint256 deadline)' },
  PermitSingle: { standard: 'Permit2', type: `PermitSingle(PermitDetails details,address spender,uint256 sigDeadline)${PERMIT_DETAILS}` },
  PermitBatch: { standard: 'Permit2', type: `PermitBatch(PermitDetails[] details,address spender,uint256 sigDeadline)${PERMIT_DETAILS}` },
  PermitTransferFrom: {
    standard: 'Permit2',
    type: `PermitTransferFrom(TokenPermissions permitted,address spender,uint256 nonce,uint256 deadline)${TOKEN_PERMISSIONS}`,
  },
  PermitBatchTransferFrom: {
    standard: 'Permit2',
    type: `PermitBatchTransferFrom(TokenPermissions[] permitted,address spender,uint256 nonce,uint256 deadline)${TOKEN_PERMISSIONS}`,
  },
  TransferWithAuthorization: { standard: 'EIP-3009', type: `TransferWithAuthorization${AUTHORIZATION}` },
  ReceiveWithAuthorization: { standard: 'EIP-3009', type: `ReceiveWithAuthorization${AUTHORIZATION}` },
};

/**
 * Permit2's witness transfers: the four members of the plain transfer, then one member of a struct type
 * the spender's protocol defines (its name and type are free). TokenPermissions must be canonical.
 */
const WITNESS: Record<string, { members: string }> = {
  PermitWitnessTransferFrom: { members: 'TokenPermissions permitted,address spender,uint256 nonce,uint256 deadline' },
  PermitBatchWitnessTransferFrom: { members: 'TokenPermissions[] permitted,address spender,uint256 nonce,uint256 deadline' },
};

/** The standard a primary type belongs to, or undefined if it is not a permit the policy knows. */
export function permitStandard(primaryType: string): PermitStandard | undefined {
  if (Object.hasOwn(CANONICAL, primaryType)) return CANONICAL[primaryType]!.standard;
  return Object.hasOwn(WITNESS, primaryType) ? 'Permit2' : undefined;
}

/**
 * Throws INVALID_FIELD naming the primary type unless a recognised permit has exactly its canonical
 * type string (referenced types included). Does nothing for other primary types.
 */
export function checkPermitType(typedData: Pick<TypedData, 'types' | 'primaryType'>): void {
  const { types, primaryType } = typedData;
  const field = `typed_data.types.${primaryType}`;
  const canonical = Object.hasOwn(CANONICAL, primaryType) ? CANONICAL[primaryType] : undefined;
  const witness = Object.hasOwn(WITNESS, primaryType) ? WITNESS[primaryType] : undefined;
  if (!canonical && !witness) return;
  const got = encodeType(types, primaryType);
  if (canonical) {
    if (got !== canonical.type) throw invalidField(field, `must be the canonical ${canonical.standard} type ${canonical.type} (got ${shorten(got)})`);
    return;
  }
  const members = types[primaryType] ?? [];
  const last = members[4];
  const lastBase = last?.type.replace(/(\[\d*\])+$/, '');
  const shapeOk =
    members.length === 5 &&
    members.slice(0, 4).map(memberText).join(',') === witness!.members &&
    last !== undefined &&
    last.type === lastBase &&
    Object.hasOwn(types, last.type) &&
    last.type !== 'TokenPermissions' &&
    last.type !== primaryType;
  const tokenPermissions = Object.hasOwn(types, 'TokenPermissions') ? `TokenPermissions(${types.TokenPermissions!.map(memberText).join(',')})` : '';
  if (!shapeOk || tokenPermissions !== TOKEN_PERMISSIONS) {
    throw invalidField(
      field,
      `must be the canonical Permit2 type ${primaryType}(${witness!.members},<Witness> <name>)${TOKEN_PERMISSIONS} with one witness struct (got ${shorten(got)})`,
    );
  }
}

/** EIP-712 `encodeType`: the struct, then every struct it references, sorted by name. */
export function encodeType(types: Record<string, TypedDataField[]>, primary: string): string {
  const deps = new Set<string>();
  const visit = (type: string) => {
    for (const member of types[type] ?? []) {
      const base = member.type.replace(/(\[\d*\])+$/, '');
      if (Object.hasOwn(types, base) && base !== primary && !deps.has(base)) {
        deps.add(base);
        visit(base);
      }
    }
  };
  visit(primary);
  return [primary, ...[...deps].sort()].map((name) => `${name}(${(types[name] ?? []).map(memberText).join(',')})`).join('');
}

const memberText = (member: TypedDataField) => `${member.type} ${member.name}`;
const shorten = (text: string) => (text.length > 300 ? `${text.slice(0, 300)}...` : text);
