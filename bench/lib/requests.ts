import { randomBytes } from 'node:crypto';
import { RLP } from '@ethereumjs/rlp';

/** What the end-to-end benchmark sends, and the policies that allow it. */
export const BENCH_RPCS = ['SignEthereumTransaction', 'SignJwt', 'SignBytes'] as const;
export type BenchRpc = (typeof BENCH_RPCS)[number];

export const BENCH_KEYS: Readonly<Record<BenchRpc, { name: string; create: { method: string; request: object } }>> = {
  SignEthereumTransaction: { name: 'bench/eth', create: { method: 'CreateKey', request: { name: 'bench/eth', type: 'KEY_TYPE_SECP256K1' } } },
  SignJwt: { name: 'bench/jwt-es256', create: { method: 'CreateJwtKey', request: { name: 'bench/jwt-es256', algorithm: 'JWT_ALGORITHM_ES256', publishAhead: '0s' } } },
  SignBytes: { name: 'bench/ed25519', create: { method: 'CreateKey', request: { name: 'bench/ed25519', type: 'KEY_TYPE_ED25519' } } },
};

const RECIPIENT = '0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed';
const fakeAddress = (i: number) => '0x' + i.toString(16).padStart(40, '0');

/**
 * The Ethereum policy is a relayer's: chain and recipient allowlists (1,000 addresses), a value cap and
 * a 24-hour spend window, so every request reserves against the window's running total.
 */
export const BENCH_POLICIES: Record<string, string> = {
  'eth.yaml': `key: "bench/eth"
ethereum_transactions:
  chain_ids: [1]
  recipients:
    allow:
${[RECIPIENT, ...Array.from({ length: 999 }, (_, i) => fakeAddress(i + 1))].map((a) => `      - "${a}"`).join('\n')}
  max_value: "1 ether"
  max_gas_limit: 100000
  spend_windows: [{ per: 24h, max: "1000000 ether" }]
`,
  'jwt.yaml': `key: "bench/jwt-*"
jwt:
  issuers: ["https://auth.example.com"]
  audiences: ["api.example.com"]
  subjects: ["user:*"]
  max_ttl: 1h
  required_claims: [sub, aud]
`,
  'bytes.yaml': `key: "bench/ed25519"
raw_bytes: { max_length: 1024 }
`,
  'startup.yaml': `key: "bench/startup/*"
raw_bytes: { max_length: 1024 }
`,
  'access.yaml': `grants:
  - identity: local
    roles: [signer, admin, reader]
    keys: ["**"]
`,
};

/** Minimal big-endian bytes, as RLP integers must be (zero is empty). */
function toBytes(value: bigint): Uint8Array {
  if (value === 0n) return new Uint8Array();
  const hex = value.toString(16);
  return Buffer.from(hex.length % 2 ? '0' + hex : hex, 'hex');
}

/** An unsigned EIP-1559 transfer with this nonce: built with RLP directly, so the client spends little CPU. */
export function unsignedTransfer(nonce: number, to = RECIPIENT, value = 1n): Uint8Array {
  const fields = [1n, BigInt(nonce), 1n, 10n, 21000n].map(toBytes);
  const body = RLP.encode([...fields, Buffer.from(to.slice(2), 'hex'), toBytes(value), new Uint8Array(), []]);
  return new Uint8Array([0x02, ...body]);
}

/** What a load client sends: one RPC over and over, or the soak test's mix. */
export type LoadKind = BenchRpc | 'Mixed';

/** Parts of the soak mix, by `sequence % 10`. */
const MIX = ['valid', 'valid', 'valid', 'valid', 'valid', 'valid', 'denied', 'malformed', 'approval', 'bytes'] as const;
export type MixLabel = (typeof MIX)[number];
/** Soak transfers are 1 wei; the approval-required ones are above the policy's 10-wei threshold. */
export const APPROVAL_VALUE = 20n;
const STRANGER = '0xdbf03b407c01e7cd3cbea99509d93f8dddc8c6fb';

/** One call: the RPC, its request, and what part of the load it belongs to. */
export function loadCall(kind: LoadKind, sequence: number): { method: string; request: object; label: string } {
  if (kind !== 'Mixed') return { method: kind, request: benchRequest(kind, sequence), label: kind };
  const label = MIX[sequence % MIX.length]!;
  const keyName = BENCH_KEYS.SignEthereumTransaction.name;
  switch (label) {
    case 'valid':
      return { method: 'SignEthereumTransaction', request: { keyName, unsignedTransaction: unsignedTransfer(sequence) }, label };
    case 'denied':
      return { method: 'SignEthereumTransaction', request: { keyName, unsignedTransaction: unsignedTransfer(sequence, STRANGER) }, label };
    case 'malformed':
      return { method: 'SignEthereumTransaction', request: { keyName, unsignedTransaction: randomBytes(1 + (sequence % 200)) }, label };
    case 'approval':
      return { method: 'SignEthereumTransaction', request: { keyName, unsignedTransaction: unsignedTransfer(sequence, RECIPIENT, APPROVAL_VALUE) }, label };
    case 'bytes':
      return { method: 'SignBytes', request: benchRequest('SignBytes', sequence), label };
  }
}

/** The request for one call of `rpc`; `sequence` is unique per call across every client process. */
export function benchRequest(rpc: BenchRpc, sequence: number): object {
  switch (rpc) {
    case 'SignEthereumTransaction':
      return { keyName: BENCH_KEYS[rpc].name, unsignedTransaction: unsignedTransfer(sequence) };
    case 'SignJwt':
      return {
        keyName: BENCH_KEYS[rpc].name,
        claimsJson: JSON.stringify({ iss: 'https://auth.example.com', aud: 'api.example.com', sub: `user:${sequence}`, exp: Math.floor(Date.now() / 1000) + 600 }),
      };
    case 'SignBytes':
      return { keyName: BENCH_KEYS[rpc].name, message: randomBytes(32), algorithm: 'SIGN_BYTES_ALGORITHM_ED25519' };
  }
}
