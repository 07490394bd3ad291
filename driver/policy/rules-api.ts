// Slim.Policy.Add / List / Remove: the rule list in the cluster state, changed through the store
// (compare-and-swap in etcd, so two hosts adding at once both land). Every router and firewall
// picks the change up from the store's watch.
import { randomBytes } from 'node:crypto';
import type { z } from 'zod';
import { PluginError } from '../plugin/errors.js';
import { method, type Handler } from '../plugin/routes.js';
import type { Store } from '../store/store.js';
import { DEFAULT_ACTION, formatRule, type PolicyRule } from './model.js';
import * as R from './requests.js';

export async function addRule(store: Store, req: z.infer<typeof R.add>): Promise<{ rule: PolicyRule; position: number }> {
  return store.update((state) => {
    const rules = (state.policies ??= []);
    if (rules.length >= R.MAX_RULES) throw new PluginError(`there are already ${R.MAX_RULES} policy rules, the most Slim keeps`);
    let id: string;
    do id = `p${randomBytes(4).toString('hex')}`;
    while (rules.some((r) => r.id === id));
    const rule: PolicyRule = { id, action: req.action, from: req.from, to: req.to, ...(req.port === undefined ? {} : { port: req.port }) };
    const at = Math.min(req.position ?? rules.length + 1, rules.length + 1) - 1;
    rules.splice(at, 0, rule);
    return { rule, position: at + 1 };
  });
}

/** Removes every rule named (full id, or a prefix naming exactly one rule); all or nothing. */
export async function removeRules(store: Store, ids: string[]): Promise<PolicyRule[]> {
  return store.update((state) => {
    const rules = state.policies ?? [];
    const gone = new Set<PolicyRule>();
    for (const wanted of ids) {
      const exact = rules.find((r) => r.id === wanted);
      const found = exact ? [exact] : rules.filter((r) => r.id.startsWith(wanted));
      if (found.length === 0) throw new PluginError(`no policy rule ${JSON.stringify(wanted)} (see slim policy ls)`);
      if (found.length > 1) throw new PluginError(`${JSON.stringify(wanted)} names ${found.length} policy rules: ${found.map((r) => r.id).join(', ')}`);
      gone.add(found[0]!);
    }
    state.policies = rules.filter((r) => !gone.has(r));
    return [...gone];
  });
}

export function policyRoutes(store: Store, log: { info: (o: object, m: string) => void }, identities: () => Promise<object> = async () => ({})): Record<string, Handler> {
  return {
    'Slim.Policy.Add': method(R.add, async (req) => {
      const added = await addRule(store, req);
      log.info({ rule: added.rule.id, position: added.position, policy: formatRule(added.rule) }, 'policy rule added');
      return added;
    }),
    'Slim.Policy.List': method(R.list, async () => ({ rules: (await store.read()).policies ?? [], default: DEFAULT_ACTION, ...(await identities()) })),
    'Slim.Policy.Remove': method(R.remove, async (req) => {
      const removed = await removeRules(store, req.ids);
      log.info({ rules: removed.map((r) => r.id) }, 'policy rules removed');
      return { removed };
    }),
  };
}
