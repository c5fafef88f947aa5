import type { MethodTable, JsonRpcServices } from './server.js';
import { positional } from './params.js';

/** The version of Clef's external signer API that account_version reports. */
export const CLEF_API_VERSION = '6.0.0';

/** eth_accounts and Clef's account_list: the addresses of the keys the caller may sign Ethereum transactions with. */
export function accountMethods({ accounts, policy }: JsonRpcServices): MethodTable {
  const list = {
    rpc: 'ListKeys',
    handle: async (ctx: { caller: string }, params: unknown) => {
      positional(params, 0);
      policy.access.check(ctx.caller, 'ListKeys');
      return (await accounts.list(ctx.caller, 'SignEthereumTransaction')).map((account) => account.address);
    },
  };
  return {
    eth_accounts: list,
    account_list: list,
    account_version: { handle: (_ctx, params) => (positional(params, 0), CLEF_API_VERSION) },
  };
}
