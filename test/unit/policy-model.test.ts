// Connection policy, pure parts: selectors (text forms), first-match evaluation with its default,
// three-valued matching while identities are unknown, and the firewall plan derived from it.
import test from 'ava';
import { planFirewall, ruleArgs, type PlanEndpoint } from '../../driver/policy/firewall-plan.js';
import { evaluate, formatRule, formatSelector, parseSelector, SelectorError, type PolicyRule, type Selector, type Subject } from '../../driver/policy/model.js';

const NET = 'a1b2c3d4e5f6a7b8c9d0';
const sub = (container?: { name: string; labels?: Record<string, string> }, networkName: string | null = 'front'): Subject => ({
  networkId: NET,
  ...(networkName === null ? {} : { networkName }),
  ...(container ? { container: { id: `id-${container.name}-0123456789abcdef`, name: container.name, labels: container.labels ?? {} } } : {}),
});
const svc = (name: string, extra: Record<string, string> = {}) => sub({ name: `${name}.1.xyz`, labels: { 'com.docker.swarm.service.name': name, ...extra } });
const rule = (id: string, action: 'allow' | 'deny', from: string, to: string, port?: number): PolicyRule => ({
  id, action, from: parseSelector(from), to: parseSelector(to), ...(port === undefined ? {} : { port }),
});

test('selectors: text forms parse and print back', (t) => {
  for (const text of ['any', 'network=front', 'service=web', 'container=db-1', 'label=tier', 'label=tier=back', 'label=a=b=c']) {
    t.is(formatSelector(parseSelector(text)), text);
  }
  t.deepEqual(parseSelector('*'), { kind: 'any' });
  t.deepEqual(parseSelector('label=a=b=c'), { kind: 'label', key: 'a', value: 'b=c' } satisfies Selector);
  for (const bad of ['', 'service', 'service=', 'label=', 'label==x', 'label=k=', 'host=x', 'network=a\nb', `service=${'x'.repeat(257)}`]) {
    t.throws(() => parseSelector(bad), { instanceOf: SelectorError }, bad);
  }
  t.is(formatRule(rule('p1', 'deny', 'service=web', 'label=tier=db', 5432)), 'deny service=web -> label=tier=db port 5432');
});

test('no rule: allowed; the first matching rule decides', (t) => {
  t.deepEqual(evaluate([], svc('web'), svc('db'), 5432), { action: 'allow', rule: null });
  const rules = [rule('p1', 'allow', 'service=web', 'service=db', 5432), rule('p2', 'deny', 'any', 'service=db')];
  t.deepEqual(evaluate(rules, svc('web'), svc('db'), 5432), { action: 'allow', rule: 'p1' });
  t.deepEqual(evaluate(rules, svc('web'), svc('db'), 22), { action: 'deny', rule: 'p2' });
  t.deepEqual(evaluate(rules, svc('cache'), svc('db'), 5432), { action: 'deny', rule: 'p2' });
  t.deepEqual(evaluate(rules, svc('db'), svc('web'), 80), { action: 'allow', rule: null }, 'rules are directional');
  t.deepEqual(evaluate(rules, svc('web'), svc('db'), null), { action: 'deny', rule: 'p2' }, 'null: a port no rule names');
});

test('matching by service (swarm or compose), container name or ID, label, network name or ID', (t) => {
  const compose = sub({ name: 'proj-db-1', labels: { 'com.docker.compose.service': 'db', tier: 'back' } });
  const deny = (to: string) => evaluate([rule('p', 'deny', 'any', to)], svc('web'), compose, 1).action;
  t.is(deny('service=db'), 'deny');
  t.is(deny('service=web'), 'allow');
  t.is(deny('container=proj-db-1'), 'deny');
  t.is(deny('container=id-proj-db-1-0123'), 'deny', 'ID prefix of 12+ characters');
  t.is(deny('container=id-proj'), 'allow', 'too short a prefix is no ID');
  t.is(deny('label=tier'), 'deny');
  t.is(deny('label=tier=back'), 'deny');
  t.is(deny('label=tier=front'), 'allow');
  t.is(deny('label=constructor'), 'allow', 'prototype members are no labels');
  t.is(deny('network=front'), 'deny');
  t.is(deny(`network=${NET}`), 'deny');
  t.is(deny(`network=${NET.slice(0, 12)}`), 'deny');
  t.is(deny('network=back'), 'allow');
});

test('identities not known yet: unknown only when they decide it', (t) => {
  const unresolved = sub(undefined);
  const rules = [rule('p1', 'deny', 'service=web', 'service=db')];
  t.deepEqual(evaluate(rules, unresolved, svc('db'), 80), { action: 'unknown', rule: 'p1' });
  t.deepEqual(evaluate(rules, unresolved, svc('cache'), 80), { action: 'allow', rule: null }, 'the other end already rules it out');
  t.deepEqual(evaluate(rules, svc('web'), svc('db'), 81), { action: 'deny', rule: 'p1' });
  // An allow that may or may not apply, followed by a deny that surely does: unknown.
  const layered = [rule('a', 'allow', 'service=web', 'any'), rule('d', 'deny', 'any', 'service=db')];
  t.deepEqual(evaluate(layered, unresolved, svc('db'), 80), { action: 'unknown', rule: 'a' });
  // Whatever the unknown rule says, the rest says the same: decided.
  const same = [rule('d1', 'deny', 'service=web', 'any'), rule('d2', 'deny', 'any', 'service=db')];
  t.deepEqual(evaluate(same, unresolved, svc('db'), 80), { action: 'deny', rule: 'd2' });
  // A network name not learnt yet is unknown, unless the ID already matches.
  const noName = sub({ name: 'x' }, null);
  t.is(evaluate([rule('n', 'deny', 'network=front', 'any')], noName, noName, 1).action, 'unknown');
  t.is(evaluate([rule('n', 'deny', `network=${NET}`, 'any')], noName, noName, 1).action, 'deny');
  t.is(evaluate([rule('n', 'deny', 'any', 'any', 9)], noName, noName, 1).action, 'allow', 'another port: no rule applies');
});

const ep = (ip: string, host: string, subject: Subject): PlanEndpoint => ({ ip, host, networkId: NET, subject });

test('firewall plan: REJECT pairs the policy refuses, RETURN for a port let through, only pairs with an end here', (t) => {
  const eps = [ep('10.0.0.2', 'h1', svc('web')), ep('10.0.0.3', 'h2', svc('db')), ep('10.0.0.4', 'h2', svc('cache')), ep('10.0.0.5', 'h1', sub(undefined))];
  const bridge = () => 'slb-test';
  t.deepEqual(planFirewall([], eps, 'h1', bridge), [], 'no rules: nothing');
  const rules = [rule('a', 'allow', 'service=web', 'service=db', 5432), rule('d', 'deny', 'any', 'service=db')];
  const plan = planFirewall(rules, eps, 'h1', bridge);
  t.deepEqual(plan, [
    { bridge: 'slb-test', src: '10.0.0.2', dst: '10.0.0.3', port: 5432, target: 'RETURN' },
    { bridge: 'slb-test', src: '10.0.0.2', dst: '10.0.0.3', port: null, target: 'REJECT' },
    // an unresolved end (10.0.0.5) might be db or be web: fail closed either way
    { bridge: 'slb-test', src: '10.0.0.2', dst: '10.0.0.5', port: null, target: 'REJECT' },
    { bridge: 'slb-test', src: '10.0.0.3', dst: '10.0.0.5', port: null, target: 'REJECT' },
    { bridge: 'slb-test', src: '10.0.0.4', dst: '10.0.0.5', port: null, target: 'REJECT' },
    { bridge: 'slb-test', src: '10.0.0.5', dst: '10.0.0.3', port: null, target: 'REJECT' },
    // cache -> db (10.0.0.4 -> 10.0.0.3): both on h2, not this host's to enforce
  ]);
  t.deepEqual(ruleArgs(plan[0]!), ['-i', 'slb-test', '-o', 'slb-test', '-s', '10.0.0.2/32', '-d', '10.0.0.3/32', '-p', 'tcp', '--dport', '5432', '-j', 'RETURN']);
  t.deepEqual(ruleArgs(plan[1]!).slice(-4), ['-j', 'REJECT', '--reject-with', 'tcp-reset']);
  t.deepEqual(planFirewall(rules, eps, 'h2', bridge).map((r) => `${r.src}>${r.dst}:${r.port}`), [
    '10.0.0.2>10.0.0.3:5432', '10.0.0.2>10.0.0.3:null', '10.0.0.3>10.0.0.5:null', '10.0.0.4>10.0.0.3:null', '10.0.0.4>10.0.0.5:null', '10.0.0.5>10.0.0.3:null',
  ]);
  t.deepEqual(planFirewall([rule('p', 'deny', 'service=web', 'service=db', 80)], eps, 'h1', bridge), [
    { bridge: 'slb-test', src: '10.0.0.2', dst: '10.0.0.3', port: 80, target: 'REJECT' },
    { bridge: 'slb-test', src: '10.0.0.2', dst: '10.0.0.5', port: 80, target: 'REJECT' },
    { bridge: 'slb-test', src: '10.0.0.5', dst: '10.0.0.3', port: 80, target: 'REJECT' },
  ]);
});
