import test from 'ava';
import * as grpc from '@grpc/grpc-js';
import { Transaction, getBytes } from 'ethers';
import type { Key__Output } from '../../src/api/generated/signer/v1/Key.js';
import type { SignEthereumTransactionResponse__Output } from '../../src/api/generated/signer/v1/SignEthereumTransactionResponse.js';
import { usePostgres } from '../helpers/postgres.js';
import { rpcFailure, startTestSigner, type TestSigner } from '../helpers/signer.js';

const POLICY = `
key: "replace/*"
ethereum_transactions:
  chain_ids: [1]
  recipients: { allow: any }
  max_value: "1 ether"
  allow_replacements: true
`;

const transfer = (nonce: number, maxFeePerGas: bigint, maxPriorityFeePerGas: bigint) =>
  getBytes(
    Transaction.from({ type: 2, chainId: 1, nonce, gasLimit: 21000n, maxFeePerGas, maxPriorityFeePerGas, to: '0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed', value: 1n })
      .unsignedSerialized,
  );

/** On each backend: a speed-up takes over the nonce's claim; anything that does not raise both fees is refused. */
function replacementTests(backend: string, database: () => Promise<string | undefined>) {
  test.serial(`${backend}: with allow_replacements, a transaction raising both fees replaces the claim; one that does not is NONCE_REUSED`, async (t) => {
    const url = await database();
    const signer: TestSigner = await startTestSigner({ ...(url ? { database: url } : {}) }, { 'replace.yaml': POLICY });
    t.teardown(() => signer.stop());
    const key = await signer.call<Key__Output>('CreateKey', { name: 'replace/hot', type: 'KEY_TYPE_SECP256K1' });
    const sign = (unsignedTransaction: Uint8Array) => signer.call<SignEthereumTransactionResponse__Output>('SignEthereumTransaction', { keyName: 'replace/hot', unsignedTransaction });

    const original = await sign(transfer(0, 10n, 2n));
    // The same transaction again holds the same claim.
    t.truthy(await sign(transfer(0, 10n, 2n)));
    const speedUp = await sign(transfer(0, 20n, 3n));
    t.is(Transaction.from(`0x${Buffer.from(speedUp.signedTransaction).toString('hex')}`).from, key.ethereumAddress);
    t.not(Buffer.from(speedUp.signedTransaction).toString('hex'), Buffer.from(original.signedTransaction).toString('hex'));
    for (const [feeCap, priorityFee] of [[30n, 3n], [25n, 2n], [15n, 9n]] as const) {
      const refused = await rpcFailure(sign(transfer(0, feeCap, priorityFee)));
      t.is(refused.code, grpc.status.FAILED_PRECONDITION, `fees ${feeCap}/${priorityFee}`);
      t.is(refused.errorCode, 'NONCE_REUSED');
      t.regex(refused.details, /must raise both the fee cap and the priority fee/);
    }
    // The claim now stands for the speed-up: raising over it works, over the original's fees does not.
    t.truthy(await sign(transfer(0, 21n, 4n)));
    // Another nonce is unaffected.
    t.truthy(await sign(transfer(1, 10n, 2n)));
  });
}

replacementTests('sqlite', async () => undefined);
const server = usePostgres(test);
if (server) replacementTests('postgres', () => server().createDatabase());
