import { createHash } from 'node:crypto';
import test from 'ava';
import { ed25519 } from '@noble/curves/ed25519.js';
import type { EthereumSignature__Output } from '../../src/api/generated/signer/v1/EthereumSignature.js';
import { startTestSigner, type TestSigner } from '../helpers/signer.js';

const USDC = '0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48';
const POLICY = `
key: "domain/**"
tokens:
  - { symbol: USDC, address: "${USDC}", decimals: 6, max_amount: "1000000 USDC", spenders: { allow: any } }
typed_data:
  domains: [{}]
  primary_types: [Mail, Permit]
approvals:
  - name: big-permit
    token: USDC
    amount_above: "100 USDC"
    quorum: [{ group: treasury, count: 1 }]
`;
const registry = () => `approvers:\n  - { id: alice, public_key: "${Buffer.from(ed25519.getPublicKey(ed25519.utils.randomSecretKey())).toString('hex')}", groups: [treasury] }\n`;

/** As long as a request may make it (the message limit is 256 KiB). */
const HUGE = 'N'.repeat(200_000);
/** Every audit record and parked request stays well under this, whatever the domain. */
const BOUND = 2048;

let t0: TestSigner;
test.before(async () => {
  t0 = await startTestSigner({}, { 'domain.yaml': POLICY, 'approvers.yaml': registry() });
  await t0.call('CreateKey', { name: 'domain/hot', type: 'KEY_TYPE_SECP256K1' });
});
test.after.always(async () => t0?.stop());

/** SHA-256 of the domain as JSON with sorted keys, computed here independently of the service. */
const expectedDomainHash = (domain: Record<string, unknown>) =>
  createHash('sha256')
    .update(JSON.stringify(Object.fromEntries(Object.entries(domain).sort(([a], [b]) => (a < b ? -1 : 1)))))
    .digest('hex');
/** EIP-712 members from "name:type" strings. */
const members = (...specs: string[]) => specs.map((spec) => ({ name: spec.split(':')[0]!, type: spec.split(':')[1]! }));
const lastRecord = async () => (await t0.signer.store.auditRecords((await t0.signer.store.lastAuditSeq()) - 1, 1))[0]!;

test.serial('a typed-data domain is kept in the audit record as a bounded summary and its hash, never verbatim', async (t) => {
  const domain = { name: HUGE, version: '1', chainId: 1, verifyingContract: '0xCcCCccccCCCCcCCCCCCcCcCccCcCCCcCcccccccC', memo: 'M'.repeat(20_000) };
  const mail = {
    types: {
      EIP712Domain: members('name:string', 'version:string', 'chainId:uint256', 'verifyingContract:address', 'memo:string'),
      Mail: members('contents:string'),
    },
    primaryType: 'Mail',
    domain,
    message: { contents: 'hello' },
  };
  await t0.call('SignTypedData', { keyName: 'domain/hot', typedDataJson: JSON.stringify(mail) });
  const record = (await lastRecord());
  t.like(record, { method: 'SignTypedData', decision: 'allow' });
  t.true(record.intent.length < BOUND, `the audit intent is ${record.intent.length} characters`);
  const intent = JSON.parse(record.intent);
  t.deepEqual(intent.domain, { name: HUGE.slice(0, 64) + '…', version: '1', chainId: '1', verifyingContract: domain.verifyingContract, otherFields: 1 });
  t.is(intent.domainHash, expectedDomainHash(domain));
});

test.serial('a parked request keeps the same bounded summary, in its intent and in its audit record', async (t) => {
  const domain = { name: `USD Coin ${HUGE}`, version: '2', chainId: 1, verifyingContract: USDC };
  const permit = {
    types: {
      Permit: members('owner:address', 'spender:address', 'value:uint256', 'nonce:uint256', 'deadline:uint256'),
    },
    primaryType: 'Permit',
    domain,
    message: {
      owner: '0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed',
      spender: '0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb',
      value: '1000000000',
      nonce: 0,
      deadline: 4_000_000_000,
    },
  };
  const response = await t0.call<EthereumSignature__Output>('SignTypedData', { keyName: 'domain/hot', typedDataJson: JSON.stringify(permit) });
  t.truthy(response.pendingRequestId, 'a 1000 USDC permit waits for approval');
  const parked = (await t0.signer.store.pendingRequests(['pending'], 10)).find((r) => r.id === response.pendingRequestId)!;
  t.true(parked.intent.length < BOUND, `the parked intent is ${parked.intent.length} characters`);
  t.is(JSON.parse(parked.intent).domainHash, expectedDomainHash(domain));
  const record = (await lastRecord());
  t.like(record, { decision: 'approval_required' });
  t.true(record.intent.length < BOUND, `the audit intent is ${record.intent.length} characters`);
});
