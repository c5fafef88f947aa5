import { loadPolicyText, policySet, type PolicySet } from '../../src/policy/load.js';

/** The token the fuzzers send calls and permits for, so that policy decodes them. */
export const FUZZ_TOKEN = '0xa0b86991c6218b36c1d19d4a2e9eb0ce3606eb48';

/** Struct names the typed-data fuzzer uses; the policies allow all of them. */
export const FUZZ_PRIMARY_TYPES = ['Mail', 'Order', 'Item', 'Node', 'Permit', 'PermitSingle', 'PermitBatch', 'PermitTransferFrom', 'PermitBatchTransferFrom'];

// Every scheme on, with token rules, windows and approvals, so fuzzed intents reach every check.
const OPEN = `
key: "**"
tokens:
  - symbol: USDC
    address: "${FUZZ_TOKEN}"
    decimals: 6
    max_amount: "10000 USDC"
    spend_windows: [{ per: 1h, max: "50000 USDC" }]
ethereum_transactions:
  chain_ids: [1, 10, 137, 11155111]
  recipients: { allow: any, deny: ["0xdbf03b407c01e7cd3cbea99509d93f8dddc8c6fb"] }
  contract_creation: true
  contract_calls: [{ address: "0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed", selectors: ["0xdeadbeef"] }]
  max_value: "1000 ether"
  max_fee_per_gas: "300 gwei"
  max_total_fee: "1 ether"
  spend_windows: [{ per: 1d, max: "10 ether" }]
personal_messages: { max_length: 65536 }
typed_data:
  domains: [{}]
  primary_types: [${FUZZ_PRIMARY_TYPES.join(', ')}]
raw_bytes: { max_length: 1000000 }
jwt:
  issuers: ["https://issuer.example"]
  audiences: ["api"]
  subjects: ["user:*"]
  max_ttl: 1h
  forbidden_claims: [admin]
  max_token_bytes: 8192
rate_limits: [{ per: 1s, max: 1000 }]
approvals:
  - { name: big-native, native_value_above: "5 ether", quorum: [{ group: g, count: 1 }] }
  - { name: big-usdc, token: USDC, amount_above: "1000 USDC", quorum: [{ group: g, count: 1 }] }
`;

// Narrow rules: one chain, one domain, an allowlist, a JWT with required claims.
const NARROW = `
key: "**"
tokens:
  - symbol: USDC
    address: "${FUZZ_TOKEN}"
    decimals: 6
    max_amount: "1 USDC"
    recipients: { allow: ["0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed"] }
ethereum_transactions:
  chain_ids: [1]
  recipients: { allow: ["0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed"] }
  max_value: "0 ether"
  max_gas_limit: 100000
typed_data:
  domains: [{ name: "USD Coin", version: "2", chain_id: 1, verifying_contract: "${FUZZ_TOKEN}" }]
  primary_types: [Permit]
jwt:
  max_ttl: 1m
  required_claims: [sub, aud]
`;

function compile(text: string): PolicySet {
  const { policy, problems } = loadPolicyText('fuzz.yaml', Buffer.from(text));
  if (!policy) throw new Error(`fuzz policy is invalid: ${problems.join('; ')}`);
  return policySet([policy]);
}

export const FUZZ_POLICIES: readonly PolicySet[] = [compile(OPEN), compile(NARROW)];
