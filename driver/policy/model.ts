// Connection policy: an ordered list of allow/deny rules between endpoints, kept in the cluster
// state. The first rule that matches a connection decides; when none does, it is allowed. Rules
// are about TCP connections (UDP and ICMP are not policed) and directional: `from` is the side
// that connects, `to` the side that accepts, `port` the port connected to.
//
// A container's name, service and labels come from dockerd some time after Join
// (driver/policy/identity.ts). Until then a selector that needs them can neither match nor miss:
// evaluation is three-valued, and a connection whose fate hangs on such a selector is `unknown`,
// which every enforcement point treats as deny (fail closed) until the identity arrives.

export type Action = 'allow' | 'deny';

export type Selector =
  | { kind: 'any' }
  /** Docker's network name, its full ID, or an ID prefix of 12+ characters. */
  | { kind: 'network'; name: string }
  /** Swarm service (com.docker.swarm.service.name) or compose service (com.docker.compose.service). */
  | { kind: 'service'; name: string }
  /** Container name, full ID, or an ID prefix of 12+ characters. */
  | { kind: 'container'; name: string }
  /** A label key, with this value if one is given. */
  | { kind: 'label'; key: string; value?: string };

export interface PolicyRule {
  id: string;
  action: Action;
  from: Selector;
  to: Selector;
  /** TCP port connected to; absent = any port. */
  port?: number;
}

/** What a rule can know about one end of a connection. */
export interface Subject {
  networkId: string;
  /** Unknown until dockerd has been asked. */
  networkName?: string;
  /** Unknown until dockerd has been asked (shortly after Join). */
  container?: { id: string; name: string; labels: Record<string, string> };
}

export type Verdict =
  | { action: Action; rule: string | null }
  /** A rule naming container facts not known yet decides it; `rule` is the first such rule. */
  | { action: 'unknown'; rule: string };

export const DEFAULT_ACTION: Action = 'allow';

export const SERVICE_LABELS = ['com.docker.swarm.service.name', 'com.docker.compose.service'] as const;
const MIN_ID_PREFIX = 12;

/** true, false, or null for "cannot tell yet". */
type Tri = boolean | null;

function idMatches(id: string, wanted: string): boolean {
  return id === wanted || (wanted.length >= MIN_ID_PREFIX && id.startsWith(wanted));
}

export function selectorMatches(sel: Selector, s: Subject): Tri {
  switch (sel.kind) {
    case 'any':
      return true;
    case 'network':
      if (idMatches(s.networkId, sel.name)) return true;
      return s.networkName === undefined ? null : s.networkName === sel.name;
  }
  const c = s.container;
  if (!c) return null;
  switch (sel.kind) {
    case 'service':
      return SERVICE_LABELS.some((l) => Object.hasOwn(c.labels, l) && c.labels[l] === sel.name);
    case 'container':
      return c.name === sel.name || idMatches(c.id, sel.name);
    case 'label':
      return Object.hasOwn(c.labels, sel.key) && (sel.value === undefined || c.labels[sel.key] === sel.value);
  }
}

function and(a: Tri, b: Tri): Tri {
  if (a === false || b === false) return false;
  return a === null || b === null ? null : true;
}

/**
 * The verdict for a connection from `src` to `dst` on TCP port `port`; `port` null stands for a
 * port no rule names (what the firewall's catch-all needs).
 */
export function evaluate(rules: readonly PolicyRule[], src: Subject, dst: Subject, port: number | null, from = 0): Verdict {
  for (let i = from; i < rules.length; i++) {
    const r = rules[i]!;
    if (r.port !== undefined && r.port !== port) continue;
    const m = and(selectorMatches(r.from, src), selectorMatches(r.to, dst));
    if (m === false) continue;
    if (m === true) return { action: r.action, rule: r.id };
    // Cannot tell whether this rule applies: it does not matter if the rules after it say the same.
    const rest = evaluate(rules, src, dst, port, i + 1);
    if (rest.action === r.action) return rest;
    return { action: 'unknown', rule: r.id };
  }
  return { action: DEFAULT_ACTION, rule: null };
}

/** Allowed for sure: anything else (deny, unknown) is refused. */
export function allows(v: Verdict): boolean {
  return v.action === 'allow';
}

// ---------------------------------------------------------------------------------- text forms

const SELECTOR_KINDS = ['any', 'network=NAME|ID', 'service=NAME', 'container=NAME|ID', 'label=KEY[=VALUE]'];
const MAX_TEXT = 256;

export class SelectorError extends Error {}

function value(text: string, what: string): string {
  if (!text) throw new SelectorError(`${what} must not be empty`);
  if (text.length > MAX_TEXT) throw new SelectorError(`${what} is longer than ${MAX_TEXT} characters`);
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(text)) throw new SelectorError(`${what} contains control characters`);
  return text;
}

/** "any", "network=NAME", "service=NAME", "container=NAME", "label=KEY" or "label=KEY=VALUE". */
export function parseSelector(text: string): Selector {
  if (text === 'any' || text === '*') return { kind: 'any' };
  const eq = text.indexOf('=');
  const kind = eq < 0 ? text : text.slice(0, eq);
  const rest = eq < 0 ? '' : text.slice(eq + 1);
  switch (kind) {
    case 'network':
    case 'service':
    case 'container':
      return { kind, name: value(rest, `${kind} name`) };
    case 'label': {
      const e = rest.indexOf('=');
      if (e < 0) return { kind, key: value(rest, 'label key') };
      return { kind, key: value(rest.slice(0, e), 'label key'), value: value(rest.slice(e + 1), 'label value') };
    }
  }
  throw new SelectorError(`cannot read selector ${JSON.stringify(text.slice(0, 80))}: expected one of ${SELECTOR_KINDS.join(', ')}`);
}

export function formatSelector(sel: Selector): string {
  switch (sel.kind) {
    case 'any':
      return 'any';
    case 'label':
      return sel.value === undefined ? `label=${sel.key}` : `label=${sel.key}=${sel.value}`;
    default:
      return `${sel.kind}=${sel.name}`;
  }
}

export function formatRule(r: PolicyRule): string {
  return `${r.action} ${formatSelector(r.from)} -> ${formatSelector(r.to)}${r.port === undefined ? '' : ` port ${r.port}`}`;
}
