import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import * as grpc from '@grpc/grpc-js';
import { ed25519 } from '@noble/curves/ed25519.js';
import { Transaction, getBytes } from 'ethers';
import { loadSignerPackage, type SignerClient } from '../../src/api/proto.js';
import type { SignRequest__Output } from '../../src/api/generated/signer/v1/SignRequest.js';
import { approvalPayload, type Verdict } from '../../src/domain/approval.js';
import { callUnary, writePolicies } from './signer.js';
import { exitCode, startMain, type Started } from './main-process.js';

export const FRIEND = '0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed';

/** A real Ed25519 approver key pair, as `signer approvals keygen` makes one. */
export interface ApproverKey {
  id: string;
  groups: string[];
  privateKey: Uint8Array;
  publicKeyHex: string;
}

export function approverKey(id: string, groups: string[]): ApproverKey {
  const privateKey = ed25519.utils.randomSecretKey();
  return { id, groups, privateKey, publicKeyHex: Buffer.from(ed25519.getPublicKey(privateKey)).toString('hex') };
}

export function registryYaml(approvers: ApproverKey[]): string {
  return 'approvers:\n' + approvers.map((a) => `  - { id: ${a.id}, public_key: "${a.publicKeyHex}", groups: [${a.groups.join(', ')}] }`).join('\n') + '\n';
}

/** Every development identity may sign with, approve and administer every key. */
export const APPROVALS_ACCESS = `
grants:
  - { identity: "spiffe://signer.local/relayer", roles: [signer], keys: ["**"] }
  - { identity: "spiffe://signer.local/backend", roles: [signer], keys: ["**"] }
  - { identity: "spiffe://signer.local/approver", roles: [approver], keys: ["**"] }
  - { identity: "spiffe://signer.local/admin", roles: [admin], keys: ["**"] }
`;

/** The service as `npm start` runs it (development mTLS PKI), with clients for each development identity. */
export class ApprovalsRig {
  readonly dir = mkdtempSync(join(tmpdir(), 'signer-approvals-'));
  service!: Started;
  relayer!: SignerClient;
  backend!: SignerClient;
  approver!: SignerClient;
  admin!: SignerClient;
  readonly keys = new Map<string, ApproverKey>();

  constructor(approvers: ApproverKey[], policies: Record<string, string>) {
    for (const a of approvers) this.keys.set(a.id, a);
    writePolicies(this.dir, { 'access.yaml': APPROVALS_ACCESS, 'approvers.yaml': registryYaml(approvers), ...policies });
  }

  async start(args: string[] = [], env: NodeJS.ProcessEnv = {}): Promise<void> {
    this.service = await startMain(this.dir, join(this.dir, 'policies'), env, args);
    this.relayer = this.clientAs('relayer');
    this.backend = this.clientAs('backend');
    this.approver = this.clientAs('approver');
    this.admin = this.clientAs('admin');
  }

  async stop(): Promise<void> {
    for (const c of [this.relayer, this.backend, this.approver, this.admin]) c?.close();
    this.service.child.kill('SIGTERM');
    await exitCode(this.service.child);
  }

  remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }

  clientAs(name: string): SignerClient {
    const pki = join(this.dir, 'pki');
    const { proto } = loadSignerPackage();
    const creds = grpc.credentials.createSsl(readFileSync(join(pki, 'ca.pem')), readFileSync(join(pki, `${name}-key.pem`)), readFileSync(join(pki, `${name}.pem`)));
    return new proto.signer.v1.Signer(`localhost:${this.service.port}`, creds);
  }

  /** Sends a transaction of `value` wei; returns the pending request id (throws if it was not parked). */
  async park(keyName: string, nonce: number, value: bigint, options: { requestId?: string; as?: SignerClient } = {}): Promise<string> {
    const response = await this.signTransaction(keyName, nonce, value, options);
    if (!response.pendingRequestId) throw new Error('expected the request to be parked');
    return response.pendingRequestId;
  }

  signTransaction(keyName: string, nonce: number, value: bigint, options: { requestId?: string; as?: SignerClient } = {}) {
    return callUnary<{ pendingRequestId: string; signedTransaction: Buffer; r: Buffer }>(options.as ?? this.relayer, 'SignEthereumTransaction', {
      keyName,
      unsignedTransaction: unsignedTransaction(nonce, value),
      requestId: options.requestId ?? '',
    });
  }

  get(id: string): Promise<SignRequest__Output> {
    return callUnary<SignRequest__Output>(this.approver, 'GetSignRequest', { id });
  }

  /** An approval signed with the approver's real key over the request as the service describes it. */
  async submit(who: string, id: string, verdict: Verdict = 'approve', expiresAt = Date.now() + 600_000): Promise<SignRequest__Output> {
    const r = await this.get(id);
    const payload = approvalPayload({ instanceId: r.serviceInstance, requestId: r.id, keyName: r.keyName, chainId: r.chainId, digest: r.digest, policyHash: r.policyHash, verdict, expiresAt });
    const key = this.keys.get(who);
    if (!key) throw new Error(`no key for ${who}`);
    return callUnary<SignRequest__Output>(this.approver, 'SubmitApproval', {
      requestId: id,
      approverId: who,
      verdict,
      expiresAtMs: String(expiresAt),
      signature: ed25519.sign(payload, key.privateKey),
      reason: '',
    });
  }

  /** A read-only SQL query against the service's database (the sqlite3 CLI). */
  sql(query: string): string {
    return execFileSync('sqlite3', ['-readonly', join(this.dir, 'signer.db'), query], { encoding: 'utf8' }).trim();
  }
}

export function unsignedTransaction(nonce: number, value: bigint): Uint8Array {
  return getBytes(Transaction.from({ type: 2, chainId: 1n, nonce, gasLimit: 21000n, maxFeePerGas: 1n, maxPriorityFeePerGas: 1n, to: FRIEND, value }).unsignedSerialized);
}

/** A policy for keys matching `pattern` that parks native transfers above 5 ether under `approvals` (YAML list items). */
export function parkingPolicy(pattern: string, approvals: string, extra = ''): string {
  return `
key: "${pattern}"
ethereum_transactions: { chain_ids: [1], recipients: { allow: any }, max_value: "1000 ether", spend_windows: [{ per: 24h, max: "100000 ether" }] }
${extra}
approvals:
${approvals}
`;
}
