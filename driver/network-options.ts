// What `docker network create -o key=value` may say to Slim. Unknown keys are refused so a typo
// does not silently give the operator a network without the setting they asked for.
import { PluginError } from './plugin/errors.js';
import { ENABLE_IPV6_OPTION, GENERIC_OPTIONS, INTERNAL_OPTION } from './plugin/protocol.js';

export const MTU_OPTION = 'com.docker.network.driver.mtu';
export const VNI_OPTION = 'slim.vni';
const KNOWN = [MTU_OPTION, VNI_OPTION];

export const MAX_VNI = 2 ** 24 - 1;

export interface NetworkOptions {
  generic: Record<string, string>;
  mtu: number | null;
  vni: number | null;
  internal: boolean;
  ipv6: boolean;
}

export function parseNetworkOptions(options: Record<string, unknown> | null | undefined): NetworkOptions {
  const raw = options?.[GENERIC_OPTIONS] ?? {};
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new PluginError(`${GENERIC_OPTIONS} must be a map of strings`);
  }
  const generic: Record<string, string> = {};
  for (const [key, value] of Object.entries(raw)) {
    if (!KNOWN.includes(key)) throw new PluginError(`unknown network option ${JSON.stringify(key)}; Slim knows ${KNOWN.join(', ')}`);
    if (typeof value !== 'string') throw new PluginError(`network option ${key} must be a string`);
    generic[key] = value;
  }
  return {
    generic,
    mtu: generic[MTU_OPTION] === undefined ? null : intOption(MTU_OPTION, generic[MTU_OPTION], 576, 65_000),
    vni: generic[VNI_OPTION] === undefined ? null : intOption(VNI_OPTION, generic[VNI_OPTION], 1, MAX_VNI),
    internal: flag(options?.[INTERNAL_OPTION]),
    ipv6: flag(options?.[ENABLE_IPV6_OPTION]),
  };
}

function intOption(key: string, value: string, min: number, max: number): number {
  if (!/^\d{1,9}$/.test(value) || Number(value) < min || Number(value) > max) {
    throw new PluginError(`network option ${key} must be a whole number from ${min} to ${max}, not ${JSON.stringify(value)}`);
  }
  return Number(value);
}

// Docker sends booleans; older code paths sent strings.
function flag(value: unknown): boolean {
  return value === true || value === 'true';
}
